-- ImageMetadata for Azure SQL / SQL Server. Applied by `python -m imagemeta.db migrate`
-- (statements separated by GO; each statement is parsed offline with sqlglot in the tests).
-- Seed columns: Id, FileName, FileSizeKB, Width, Height, Format, UploadedOn.
-- BlobETag + FileNameHash identify one blob version: the UNIQUE index makes the store
-- idempotent even when two attempts race (FileName itself is too wide for an index key).
CREATE TABLE dbo.ImageMetadata (
    Id INT IDENTITY(1, 1) NOT NULL CONSTRAINT PK_ImageMetadata PRIMARY KEY,
    FileName NVARCHAR(1024) NOT NULL,
    FileSizeKB INT NOT NULL,
    Width INT NOT NULL,
    Height INT NOT NULL,
    Format NVARCHAR(16) NOT NULL,
    UploadedOn DATETIME2 NULL,
    BlobETag NVARCHAR(64) NOT NULL,
    FileNameHash CHAR(64) NOT NULL,
    ColorMode NVARCHAR(16) NULL,
    Orientation INT NULL,
    DateTimeOriginal NVARCHAR(32) NULL,
    CameraMake NVARCHAR(64) NULL,
    CameraModel NVARCHAR(64) NULL,
    ProcessedOn DATETIME2 NOT NULL CONSTRAINT DF_ImageMetadata_ProcessedOn DEFAULT SYSUTCDATETIME()
)
GO
CREATE UNIQUE INDEX UX_ImageMetadata_FileNameHash_BlobETag
    ON dbo.ImageMetadata (FileNameHash, BlobETag)
GO
CREATE INDEX IX_ImageMetadata_UploadedOn ON dbo.ImageMetadata (UploadedOn)
GO
