-- ImageMetadata for the local SQLite ODBC default: the same columns, constraints and indexes
-- as schema/tsql/0001_create_image_metadata.sql in SQLite's dialect.
CREATE TABLE ImageMetadata (
    Id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    ProcessedOn DATETIME2 NOT NULL DEFAULT CURRENT_TIMESTAMP
)
GO
CREATE UNIQUE INDEX UX_ImageMetadata_FileNameHash_BlobETag
    ON ImageMetadata (FileNameHash, BlobETag)
GO
CREATE INDEX IX_ImageMetadata_UploadedOn ON ImageMetadata (UploadedOn)
GO
