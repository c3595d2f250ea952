// Azure SQL logical server + Basic database holding the ImageMetadata table. The table itself is
// created by the app's migration (imagemeta/schema/tsql), applied by infra/deploy.sh.
param serverName string
param databaseName string
param location string
@secure()
param adminLogin string
@secure()
param adminPassword string
param entraAdminLogin string
param entraAdminObjectId string
@description('Entra-only authentication: SQL logins and contained users with passwords stop working.')
param entraOnlyAuth bool
param tags object

resource server 'Microsoft.Sql/servers@2023-08-01-preview' = {
  //checkov:skip=CKV2_AZURE_27:Entra-only auth is the azureADOnlyAuthentications child below (on by default with managedIdentity; password mode needs SQL logins); checkov reads only the inline administrators block.
  //checkov:skip=CKV_AZURE_113:Public network access is needed: Linux Consumption apps reach SQL over the public endpoint, limited by the AllowAzureServices rule.
  name: serverName
  location: location
  tags: tags
  properties: {
    administratorLogin: adminLogin
    administratorLoginPassword: adminPassword
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    version: '12.0'
  }
}

resource entraAdmin 'Microsoft.Sql/servers/administrators@2023-08-01-preview' = if (!empty(entraAdminObjectId)) {
  parent: server
  name: 'ActiveDirectory'
  properties: {
    administratorType: 'ActiveDirectory'
    login: entraAdminLogin
    sid: entraAdminObjectId
    tenantId: subscription().tenantId
  }
}

// Entra ID only: the server admin's SQL login and every password-based user are refused; the
// app (managed identity) and the Entra admin (the deployer, who runs the migration) remain.
// Needs the Entra admin above, so it is created after it.
resource entraOnly 'Microsoft.Sql/servers/azureADOnlyAuthentications@2023-08-01-preview' = if (entraOnlyAuth) {
  parent: server
  name: 'Default'
  properties: {
    azureADOnlyAuthentication: true
  }
  dependsOn: [
    entraAdmin
  ]
}

// 0.0.0.0-0.0.0.0 is Azure's special range meaning "allow Azure services" (the Function App).
resource allowAzureServices 'Microsoft.Sql/servers/firewallRules@2023-08-01-preview' = {
  parent: server
  name: 'AllowAzureServices'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource database 'Microsoft.Sql/servers/databases@2023-08-01-preview' = {
  //checkov:skip=CKV_AZURE_229:Zone redundancy is not available on the Basic tier (the seed's choice).
  //checkov:skip=CKV_AZURE_26:Threat-detection alert e-mails need Microsoft Defender for SQL (paid); left to the operator.
  //checkov:skip=CKV_AZURE_27:Threat-detection alert e-mails need Microsoft Defender for SQL (paid); left to the operator.
  parent: server
  name: databaseName
  location: location
  tags: tags
  sku: {
    name: 'Basic'
    tier: 'Basic'
  }
  properties: {
    collation: 'SQL_Latin1_General_CP1_CI_AS'
    maxSizeBytes: 2147483648
  }
}

output fullyQualifiedDomainName string = server.properties.fullyQualifiedDomainName
