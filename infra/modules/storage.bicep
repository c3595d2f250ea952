// StorageV2 Standard_LRS account: the images-input container (private), AzureWebJobsStorage,
// the Durable task hub tables/queues, and the blob trigger's receipts.
param name string
param location string
param containerName string
param tags object

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Default network action stays Allow: Linux Consumption has no VNet integration, so the app reaches storage over its public endpoint (keys + HTTPS + TLS 1.2).
  //checkov:skip=CKV_AZURE_59:Public network access stays on for the same reason (Linux Consumption has no VNet integration); blob public access is off.
  //checkov:skip=CKV_AZURE_206:Standard_LRS is the seed's choice for a single-region pipeline; ZRS/GRS is a parameter change away.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true
    defaultToOAuthAuthentication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = account.name
output id string = account.id
