// Image metadata pipeline: every Azure resource, deployed at subscription scope so the
// resource group is part of the template (az deployment sub create -f infra/main.bicep ...).
targetScope = 'subscription'

@description('Resource group that holds every resource of the pipeline.')
param resourceGroupName string = 'image-metadata-rg'

@description('Azure region for the resource group, storage, monitoring and the Function App.')
param location string = 'eastus'

@description('Azure region for the SQL server and database. Separate from location because Azure SQL provisioning is restricted in some regions for some subscription types (e.g. East US for free/trial offers): pick another region here if the deployment reports "RegionDoesNotAllowProvisioning". Default: East US, as the seed says.')
param sqlLocation string = 'eastus'

@description('Storage account (3-24 lowercase letters/digits, globally unique): blobs, Durable task hub, AzureWebJobsStorage.')
@minLength(3)
@maxLength(24)
param storageAccountName string = 'imagemetadatastorage'

@description('Private blob container watched by the blob trigger.')
param containerName string = 'images-input'

@description('Function App name (globally unique host name).')
param functionAppName string = 'imagemetadatafuncapp'

@description('Azure SQL logical server name (globally unique).')
param sqlServerName string = 'imagemetadata-sqlsrv'

@description('Azure SQL database name.')
param sqlDatabaseName string = 'imagemetadata-db'

@description('How the app authenticates to SQL: a SQL login in the connection string, or the app\'s system-assigned managed identity (Entra ID, no password in app settings).')
@allowed([
  'password'
  'managedIdentity'
])
param sqlAuthMode string = 'managedIdentity'

@description('SQL administrator login. No default: pass it at deploy time.')
@secure()
param sqlAdminLogin string

@description('SQL administrator password. No default: pass it at deploy time.')
@secure()
param sqlAdminPassword string

@description('Contained database user the app connects as in password mode (created by the migration with SELECT, INSERT on ImageMetadata only; never the server admin).')
param sqlAppLogin string = 'imagemeta_app'

@description('Password of sqlAppLogin (password mode only). No default: deploy.sh generates one and passes it in a temporary parameters file.')
@secure()
param sqlAppPassword string = ''

@description('Entra ID administrator of the SQL server (user or group display name). Required when sqlAuthMode is managedIdentity, so someone can create the app\'s database user.')
param sqlEntraAdminLogin string = ''

@description('Object id of sqlEntraAdminLogin.')
param sqlEntraAdminObjectId string = ''

@description('Entra-only authentication on the SQL server (managedIdentity mode only; password mode needs SQL authentication and ignores this). On by default: the admin login and password then only exist because ARM requires them at creation.')
param sqlEntraOnlyAuth bool = true

@description('CIDR ranges (e.g. 203.0.113.7/32) that may reach the Function App\'s HTTP endpoints: the Durable HTTP API and the admin API. Default: none; the blob trigger needs no inbound access. See docs/security-deploy.md ("Opening the Durable API to operators").')
param operatorCidrs array = []

@description('WEBSITE_RUN_FROM_PACKAGE. Leave empty: `func azure functionapp publish` uploads the zip and sets this to its blob URL (Linux Consumption only accepts a URL). deploy.sh passes the current value on re-deploys so a template update does not unpublish the app.')
param runFromPackageUrl string = ''

@description('Tags applied to every resource.')
param tags object = {
  application: 'image-metadata-pipeline'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    containerName: containerName
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    baseName: functionAppName
    location: location
    tags: tags
  }
}

module sql 'modules/sql.bicep' = {
  name: 'sql'
  scope: rg
  params: {
    serverName: sqlServerName
    databaseName: sqlDatabaseName
    location: sqlLocation
    adminLogin: sqlAdminLogin
    adminPassword: sqlAdminPassword
    entraAdminLogin: sqlEntraAdminLogin
    entraAdminObjectId: sqlEntraAdminObjectId
    entraOnlyAuth: sqlEntraOnlyAuth && sqlAuthMode == 'managedIdentity'
    tags: tags
  }
}

// The app's parameters are all known before deployment (no other module's outputs), so
// `az deployment sub what-if` can expand this module and show the site's changes; the values
// that only exist at run time (storage key, App Insights connection string) are read inside the
// module through `existing` references, and dependsOn keeps the order.
module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  dependsOn: [
    storage
    monitoring
    sql
  ]
  params: {
    name: functionAppName
    location: location
    storageAccountName: storageAccountName
    appInsightsName: '${functionAppName}-ai'
    sqlServerFqdn: '${sqlServerName}${environment().suffixes.sqlServerHostname}'
    sqlDatabaseName: sqlDatabaseName
    sqlAuthMode: sqlAuthMode
    sqlLogin: sqlAppLogin
    sqlPassword: sqlAppPassword
    runFromPackageUrl: runFromPackageUrl
    operatorCidrs: operatorCidrs
    tags: tags
  }
}

output resourceGroupName string = rg.name
output functionAppName string = functionApp.outputs.name
output functionAppPrincipalId string = functionApp.outputs.principalId
output storageAccountName string = storage.outputs.name
output blobContainerName string = containerName
output sqlServerFqdn string = sql.outputs.fullyQualifiedDomainName
output sqlDatabaseName string = sqlDatabaseName
output sqlAppLogin string = sqlAppLogin
