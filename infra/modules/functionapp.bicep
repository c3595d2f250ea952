// Linux Consumption (Y1) Function App, Python 3.11, Functions v4, system-assigned identity.
// In password mode the app connects as a contained database user with SELECT, INSERT only
// (created by the migration), never as the server admin.
// Linux Consumption is being retired by Microsoft in favour of Flex Consumption: see
// infra/README.md ("Flex Consumption") for the switch.
param name string
param location string
param storageAccountName string
param appInsightsName string
param sqlServerFqdn string
param sqlDatabaseName string
@allowed([
  'password'
  'managedIdentity'
])
param sqlAuthMode string
@secure()
param sqlLogin string
@secure()
param sqlPassword string
param runFromPackageUrl string
@description('CIDR ranges allowed to reach the app\'s HTTP endpoints (Durable API, admin API); empty denies all.')
param operatorCidrs array
param tags object

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  //checkov:skip=CKV_AZURE_225:Consumption (Y1) plans cannot be zone redundant.
  name: '${name}-plan'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'Y1'
    tier: 'Dynamic'
  }
  properties: {
    reserved: true // Linux
  }
}

var storageConnectionString = 'DefaultEndpointsProtocol=https;AccountName=${storage.name};EndpointSuffix=${environment().suffixes.storage};AccountKey=${storage.listKeys().keys[0].value}'
var sqlServerPart = 'Driver={ODBC Driver 18 for SQL Server};Server=tcp:${sqlServerFqdn},1433;Database=${sqlDatabaseName};Encrypt=yes;TrustServerCertificate=no;Connection Timeout=30'
// ODBC connection-string values in braces, '}' doubled: a password with ';', '{', '}', quotes or
// spaces reaches the driver intact (unquoted, 'a;b' would end the value at the ';').
var sqlConnectionString = (sqlAuthMode == 'managedIdentity') ? '${sqlServerPart};Authentication=ActiveDirectoryMsi' : '${sqlServerPart};Uid={${replace(sqlLogin, '}', '}}')}};Pwd={${replace(sqlPassword, '}', '}}')}}'

var baseSettings = [
  {
    name: 'AzureWebJobsStorage'
    value: storageConnectionString
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'python'
  }
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    name: 'SqlConnectionString'
    value: sqlConnectionString
  }
]
// Linux Consumption only accepts a URL here; publish sets it. Only write it when we know it,
// so a template re-deploy never points the app at nothing.
var packageSettings = empty(runFromPackageUrl) ? [] : [
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE'
    value: runFromPackageUrl
  }
]

// Inbound: the blob trigger polls storage (outbound) and needs nothing inbound, so the main
// site denies every address except the operators' (the Durable HTTP API and the admin API are
// the only HTTP surface; they still need a key). The SCM/Kudu site keeps its own rules
// (publish goes there) and accepts Entra tokens only: basic-auth publishing is off below.
var operatorRules = [for (cidr, i) in operatorCidrs: {
  name: 'operator-${i}'
  description: 'Operator access to the Durable and admin HTTP endpoints'
  ipAddress: cidr
  action: 'Allow'
  priority: 100 + i
}]

resource site 'Microsoft.Web/sites@2023-12-01' = {
  //checkov:skip=CKV_AZURE_222:Public network access is needed: Linux Consumption has no private endpoints; the app exposes no HTTP functions.
  //checkov:skip=CKV_AZURE_17:Client certificates do not apply: the app exposes no HTTP functions (blob trigger only).
  //checkov:skip=CKV_AZURE_212:Consumption plans scale to zero; a minimum instance count does not apply.
  //checkov:skip=CKV_AZURE_213:Health check needs an HTTP endpoint; this blob-triggered app has none.
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    reserved: true // Linux (Microsoft's IaC guidance and samples for Linux function apps set it)
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      linuxFxVersion: 'Python|3.11'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      ipSecurityRestrictions: operatorRules
      ipSecurityRestrictionsDefaultAction: 'Deny' // no rule matched (none by default): 403
      scmIpSecurityRestrictionsUseMain: false
      appSettings: concat(baseSettings, packageSettings)
    }
  }
}

// No FTP or SCM (Kudu) basic-auth publishing credentials: `func azure functionapp publish`
// authenticates to Kudu with the signed-in Entra token (Core Tools' GetRemoteZipClient sends
// `Authorization: Bearer`), so publishing keeps working; publish profiles stop working.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output principalId string = site.identity.principalId
