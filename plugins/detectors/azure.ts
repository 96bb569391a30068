/**
 * Microsoft Azure and Entra ID: storage account keys and SAS signatures, connection strings, Entra
 * client secrets, and the "identifiable" keys Azure services now issue: a service signature (`+ASt`,
 * `AzFu`, `ACDb`...) at a fixed place and a Marvin32 checksum that is verified offline
 * (microsoft/security-utilities publishes the formats and seeds).
 */
import type { DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import { type DetectorDefinition, defineDetector } from '../../core/detector.ts'
import { anchoredPatternDetect } from './anchored-pattern.ts'
import { AZURE_CHECKSUM_SEEDS, isValidAzureIdentifiableKey } from './checksums.ts'
import { keyValuePattern } from './key-value-pattern.ts'

type AzureKeyShape = 'base64-64' | 'base64-32' | 'base64url-40' | 'alnum-39' | 'base64-39'

/** where the service signature starts inside each shape */
const AZURE_SIGNATURE_OFFSETS: Record<AzureKeyShape, number> = {
  'base64-64': 76,
  'base64-32': 33,
  'base64url-40': 44,
  'alnum-39': 42,
  'base64-39': 42,
}

const AZURE_KEY_SHAPES: Record<AzureKeyShape, (signature: string) => string> = {
  // 64 random-looking bytes: 88 characters, signature at 76, checksum in the last 4 bytes
  'base64-64': (sig) => `[A-Za-z0-9+/]{76}${sig}[A-Za-z0-9+/]{5}[AQgw]==`,
  'base64-32': (sig) => `[A-Za-z0-9+/]{33}${sig}[A-P][A-Za-z0-9+/]{5}=`,
  'base64url-40': (sig) => `[A-Za-z0-9_-]{44}${sig}[A-Za-z0-9_-]{5}[AQgw]==`,
  'alnum-39': (sig) => `[A-Za-z0-9]{42}${sig}[A-D][A-Za-z0-9]{5}`,
  'base64-39': (sig) => `[A-Za-z0-9+/]{42}${sig}[A-D][A-Za-z0-9+/]{5}`,
}

const azureIdentifiableKey = (spec: {
  id: string
  name: string
  description: string
  signature: string
  shape: AzureKeyShape
  seeds: readonly bigint[]
  examples: string[]
  negatives: string[]
}): DetectorDefinition => {
  const signatureSource = spec.signature.replace(/[+]/g, '\\+')
  return defineDetector({
    id: spec.id,
    name: spec.name,
    description: `${spec.description} The key carries the ${spec.signature} service signature and a Marvin32 checksum; a failed checksum grades it low.`,
    confidence: 'high',
    binary: true,
    keywords: [spec.signature.toLowerCase()],
    detect: anchoredPatternDetect({
      anchor: spec.signature,
      offset: AZURE_SIGNATURE_OFFSETS[spec.shape],
      pattern: new RegExp(`(?<![A-Za-z0-9+/_-])(?<secret>${AZURE_KEY_SHAPES[spec.shape](signatureSource)})(?![A-Za-z0-9+/_=-])`),
      validate: (value) => isValidAzureIdentifiableKey(value, spec.signature, spec.seeds) || 'low',
    }),
    examples: spec.examples,
    negatives: spec.negatives,
  })
}

/** The Azurite/storage-emulator account key, published in Microsoft's documentation. */
const AZURE_EMULATOR_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

const gradeAzureStorageKey = (value: string): true | 'low' => {
  if (value === AZURE_EMULATOR_KEY) return 'low'
  if (value.slice(76, 80) === '+ASt') return isValidAzureIdentifiableKey(value, '+ASt', AZURE_CHECKSUM_SEEDS.storage) || 'low'
  return true
}

const AZURE_SAS_SIGNATURE = /[?&;]sig=(?<secret>(?:[A-Za-z0-9+/]|%2[BbFf]){43}(?:=|%3[Dd]))(?=$|[&\s"'<>;,)\\])/g

/** A SAS `sig=` is only a credential inside a SAS query: the same URL carries `sv=` and `se=` or `sp=`. */
function* azureSasSignatures(chunk: ScanChunk): Iterable<DetectorMatch> {
  for (const match of chunk.text.matchAll(AZURE_SAS_SIGNATURE)) {
    const start = match.index + match[0].indexOf('=') + 1
    const lineStart = chunk.text.lastIndexOf('\n', match.index) + 1
    const lineEnd = chunk.text.indexOf('\n', start)
    const line = chunk.text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd)
    if (!/[?&;]sv=\d{4}-\d{2}-\d{2}/.test(line) || !/[?&;]s[ep]=/.test(line)) continue
    const value = match.groups?.secret ?? ''
    yield { value, start, end: start + value.length, key: 'sig' }
  }
}

export const azureDetectors: DetectorDefinition[] = [
  defineDetector({
    id: 'azure-storage-account-key',
    name: 'Azure storage account key',
    description: 'An Azure Storage account key under AccountKey= (connection strings) or a similar key.',
    confidence: 'high',
    keywords: ['accountkey', 'account_key', 'account-key', 'storagekey', 'storage_key'],
    pattern: keyValuePattern({
      keys: ['accountkey', 'account_key', 'storage_account_key', 'storage_key'],
      value: '[A-Za-z0-9+/]{86}==',
      tail: '(?![A-Za-z0-9+/=])',
      gap: 4,
    }),
    validate: gradeAzureStorageKey,
    examples: [
      'DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=ipa1PMj2aIHncqnRjK3PCUKxyczFy6SgDHbuteqa3QOp7U6lMnYUfYk76ibyLTgEjZT0uiW4+M+bFejUA+ylNf==;EndpointSuffix=core.windows.net',
      'AZURE_STORAGE_KEY="76nd5ND7vTmC6uJ1S+XVM/+qQECuIjRSNRPlEIDbkaThxqU3vPcwxFN2XNH12HnsA6YApLzOcFeJe1Fu1oEx6K=="',
      'AccountKey=cUIadIuNyBggmSZ1YbG7rxR648Acy/SeHAAmT5y3ipTb3HneyfsaOGoEzypgbh0tNDg3CJBWP1sW+ASttjvLww==',
    ],
    negatives: [
      'AccountKey=1Sg2hvfeEPWnslSznIMlWJO3ws6Xhj78SzWv8QX9==',
      'AccountKey=<your-account-key>',
      'DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=$(STORAGE_KEY)',
    ],
  }),
  defineDetector({
    id: 'azure-sas-token',
    name: 'Azure shared access signature',
    description: 'The sig= of an Azure SAS URL or SAS token (storage, Service Bus...), which grants what its sp= permits until se=.',
    confidence: 'high',
    keywords: ['sig='],
    detect: azureSasSignatures,
    examples: [
      'https://acmeprod.blob.core.windows.net/backups?sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2031-01-01T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig=dEEt5EUhbLdhsQFLOjUNcfJ2oTiRmyNooC851tqT%2Btg%3D',
      'SAS_TOKEN="?sv=2021-06-08&ss=bfqt&srt=sco&sp=rl&se=2030-12-31T23:59:59Z&sig=AGocr79x5Zsmmf6Yp6wlExuq7jqosMYyPGxvI1q0gPG="',
    ],
    negatives: [
      'https://example.com/download?sig=dEv4hOzV1J9tYSXthwSzqEObhLtD9z9YkqNE1Go79BJ=',
      '?sv=2022-11-02&sp=r&se=2031-01-01&sig=<signature>',
      '?sv=2022-11-02&sp=r&se=2031-01-01&sig=ev6XPp4fhRPurnUqpMu6%3D',
    ],
  }),
  defineDetector({
    id: 'azure-ad-client-secret',
    name: 'Microsoft Entra ID (Azure AD) client secret',
    description: 'An Entra ID application client secret (the Q~ format).',
    confidence: 'high',
    keywords: ['q~'],
    pattern: /(?<![A-Za-z0-9_~.+/-])(?<secret>[A-Za-z0-9_~.-]{3}[78]Q~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.+/=-])/,
    minEntropy: 3.8,
    examples: ['AZURE_CLIENT_SECRET=HYM8Q~7Jytb-.4KMwtkgjXw-bAb0SsEHbg7E.t9g', '"clientSecret": "88L7Q~Rt4UGnIeeDvu5LRUT7UIDopkvocp8Pk"'],
    negatives: ['abc8Q~4S477XL2IH', 'value=oUL9Q~gVYmUgEYt2S0KcyD3UJAaz4urhJd8hGFKj', 'home/user/8Q~backup'],
  }),
  defineDetector({
    id: 'azure-shared-access-key',
    name: 'Azure Service Bus / Event Hubs / Relay shared access key',
    description: 'A SharedAccessKey= from a Service Bus, Event Hubs, Relay or IoT Hub connection string.',
    confidence: 'high',
    keywords: ['sharedaccesskey'],
    pattern: keyValuePattern({ keys: ['sharedaccesskey'], value: '[A-Za-z0-9+/]{43}=', tail: '(?![A-Za-z0-9+/=])', gap: 0 }),
    examples: [
      'Endpoint=sb://acme-bus.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=t2a9KTBjtQjZoUUkyz5kXy2c2PWOeV1E/nKzV4MLroD=',
      'HostName=acme.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=amuAP7L7j58MMM1DRRLR2uvsM5u4oTn8qAIoTP7aIYA=',
    ],
    negatives: ['SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=<key>', 'SharedAccessKey=kWqtTzBi4IttNmre4Rs2='],
  }),
  defineDetector({
    id: 'azure-app-configuration-connection-string',
    name: 'Azure App Configuration connection string',
    description: 'The Secret of an Azure App Configuration connection string.',
    confidence: 'high',
    keywords: ['azconfig.io'],
    pattern: /\.azconfig\.io;Id=[^;\s"']{4,40};Secret=(?<secret>[A-Za-z0-9+/]{43}=)(?![A-Za-z0-9+/=])/,
    examples: ['APP_CONFIG="Endpoint=https://acme-config.azconfig.io;Id=9PKP-l0-s0:vtVh885A24rUJ0aTZ9sh;Secret=ewAiDjiAHpkV89KXTJ4wGNkXYXvy+gnZg24phRm9ioE="'],
    negatives: ['Endpoint=https://acme-config.azconfig.io;Id=xxxx;Secret=<secret>'],
  }),
  defineDetector({
    id: 'azure-signalr-connection-string',
    name: 'Azure SignalR / Web PubSub access key',
    description: 'The AccessKey of an Azure SignalR Service or Web PubSub connection string.',
    confidence: 'high',
    keywords: ['signalr.net', 'webpubsub.azure.com'],
    pattern: /\.(?:service\.signalr\.net|webpubsub\.azure\.com);AccessKey=(?<secret>[A-Za-z0-9+/]{43}=)(?![A-Za-z0-9+/=])/,
    examples: ['Azure__SignalR__ConnectionString=Endpoint=https://acme-chat.service.signalr.net;AccessKey=OTD2fUHzYQeehpZlvGHvQVIyeIUx0xya5LUkr1oRePD=;Version=1.0;'],
    negatives: ['Endpoint=https://acme-chat.service.signalr.net;AccessKey=<key>;Version=1.0;'],
  }),
  azureIdentifiableKey({
    id: 'azure-storage-identifiable-key',
    name: 'Azure storage account key (identifiable)',
    description: 'An Azure Storage account key in the identifiable format, found without its connection string.',
    signature: '+ASt',
    shape: 'base64-64',
    seeds: AZURE_CHECKSUM_SEEDS.storage,
    examples: ['storage: EQA2a/DGDosiplGzW5+v0ch1ROqoQNurNf2NuFdtsBu4nX5qKbu/xw9Pj6LK2H4+yxPiDRMrQdmh+AStoddtJA=='],
    negatives: ['hocvyWeKlBCkIdsvY4YRso7HAw0eqMPPOByUBdjQ1RKssCUzwPGocT850yVsqo1oQZhVTQ+AStDK4WIA==', 'f3DKEISamMMPG1KeNHMYwOJRB0t7onAKd9C1IeXi3GZQkveIMp2xIwVxbBQQ6MKoOhHj4q9g0F7c+ASt6zbJBB=='],
  }),
  azureIdentifiableKey({
    id: 'azure-cosmosdb-key',
    name: 'Azure Cosmos DB account key',
    description: 'An Azure Cosmos DB account key in the identifiable format.',
    signature: 'ACDb',
    shape: 'base64-64',
    seeds: AZURE_CHECKSUM_SEEDS.cosmosDb,
    examples: ['COSMOS_KEY=e4skkrtIGQvqQbFSCFzr4Z3IoHtGLD+ikgLYwjyRe9yikL/C9kAtH+uHkJ+ixU5lhRAGOcwLhYmNACDbXELAxA=='],
    negatives: ['COSMOS_KEY=AMU3tCbxWAa8UcM8lpMpjySYALzrYyKQugZO9IG7wdYrct7Hx2XrYMAdQdzICAk14FDBY9NcBvFPACDbtQgj'],
  }),
  azureIdentifiableKey({
    id: 'azure-function-key',
    name: 'Azure Functions access key',
    description: 'An Azure Functions function, host or master key.',
    signature: 'AzFu',
    shape: 'base64url-40',
    seeds: AZURE_CHECKSUM_SEEDS.functions,
    examples: ['https://acme-fn.azurewebsites.net/api/resize?code=AWdiSBHnLs5VVWUGcCNzMMAVUQRDIQeaGrg_tcQPkHAMAzFuPXc9EA=='],
    negatives: ['code=sv8ZERoAjJROiQdiZzKAmVpSSNTmMa3aJKOOC0DhPNYmAzFuCrYG1=='],
  }),
  azureIdentifiableKey({
    id: 'azure-service-bus-key',
    name: 'Azure Service Bus access key',
    description: 'An Azure Service Bus shared access key in the identifiable format.',
    signature: '+ASb',
    shape: 'base64-32',
    seeds: AZURE_CHECKSUM_SEEDS.messaging,
    examples: ['primaryKey: fp+X6+AjVKWwNuG6fqRaKSgjJCKZUNlof+ASbKdM9xs='],
    negatives: ['primaryKey: kqlQ2TaNZMxx95ZsTCdfGPhssHVDZN+ASbeT0hik='],
  }),
  azureIdentifiableKey({
    id: 'azure-event-hubs-key',
    name: 'Azure Event Hubs access key',
    description: 'An Azure Event Hubs shared access key in the identifiable format.',
    signature: '+AEh',
    shape: 'base64-32',
    seeds: AZURE_CHECKSUM_SEEDS.messaging,
    examples: ['eventhub_key = "PiIIgV2P2aYfCO8ptPMa1vduZVIBoJds7+AEhBz9gr8="'],
    negatives: ['eventhub_key = "mTvDZ09ZROd8eIWQTaDyOqAsMyDllTSFF+AEhzkfQxE="'],
  }),
  azureIdentifiableKey({
    id: 'azure-relay-key',
    name: 'Azure Relay access key',
    description: 'An Azure Relay shared access key in the identifiable format.',
    signature: '+ARm',
    shape: 'base64-32',
    seeds: AZURE_CHECKSUM_SEEDS.messaging,
    examples: ['relayKey=8ufp5Pm5xmVc9cYp5o8jF8CLSHomL4/Jf+ARmN9Wyq4='],
    negatives: ['relayKey=ufhAouLnjHM4cWM2ZhkPt69cY5qqBVZKX0+ARmAToRye='],
  }),
  azureIdentifiableKey({
    id: 'azure-api-management-key',
    name: 'Azure API Management key',
    description: 'An Azure API Management subscription, gateway, repository or direct-management key.',
    signature: 'APIM',
    shape: 'base64-64',
    seeds: AZURE_CHECKSUM_SEEDS.apiManagement,
    examples: ['Ocp-Apim-Subscription-Key: IKBbnPfiWpkSNBydnV/2WfprxXcjVTdhfNsDn6TL4a7YvcqAYtllzfnSBAc6YKMaL0JAocbnpQ3eAPIMrBPjpA=='],
    negatives: ['Ocp-Apim-Subscription-Key: 5ec28d1408df7cbfd0ac4ae3ccb0c009'],
  }),
  azureIdentifiableKey({
    id: 'azure-cache-for-redis-key',
    name: 'Azure Cache for Redis access key',
    description: 'An Azure Cache for Redis access key in the identifiable format.',
    signature: 'AzCa',
    shape: 'base64-32',
    seeds: AZURE_CHECKSUM_SEEDS.cacheForRedis,
    examples: ['acme.redis.cache.windows.net:6380,password=kN8dO35Qjl9wOm0NBLwGDy5W+MrGAkOxvAzCaGI6ebw=,ssl=True'],
    negatives: ['password=OJMK5f787OjPsSw42abciqKLWKU2VofngAzCaZd9Hg6='],
  }),
  azureIdentifiableKey({
    id: 'azure-container-registry-key',
    name: 'Azure Container Registry access key',
    description: 'An Azure Container Registry admin or token password in the identifiable format.',
    signature: '+ACR',
    shape: 'base64-39',
    seeds: AZURE_CHECKSUM_SEEDS.containerRegistry,
    examples: ['docker login acme.azurecr.io -u acme -p 9aRRRt3Ggob25POenbYkgoPHwl5MEGfZv85ZRd8ibd+ACRC3iRN5'],
    negatives: ['-p 7zKOncfHQv3fXtJIDcFiP11LZBE8AlqGpRX9keWJUB+ACRZwSPsn'],
  }),
  azureIdentifiableKey({
    id: 'azure-search-key',
    name: 'Azure AI Search key',
    description: 'An Azure AI Search (Cognitive Search) admin or query key in the identifiable format.',
    signature: 'AzSe',
    shape: 'alnum-39',
    seeds: AZURE_CHECKSUM_SEEDS.search,
    examples: ['SEARCH_ADMIN_KEY=U0LaThmrcwzpr1McaIekKwkRKgLz9xod54mpjv8JkaAzSeBjb7wB'],
    negatives: ['SEARCH_ADMIN_KEY=bhueD5y31RBVWuz0NPcilmp3bQgdExkdviklnVwsAzSeAPWs4O'],
  }),
  azureIdentifiableKey({
    id: 'azure-batch-key',
    name: 'Azure Batch account key',
    description: 'An Azure Batch shared account key in the identifiable format.',
    signature: '+ABa',
    shape: 'base64-64',
    seeds: AZURE_CHECKSUM_SEEDS.batch,
    examples: ['batch_account_key: 5wV9OpR+Pd18wRw0tsd13MJPrP1IeTGexS1wDiGgi3pmLKsDW6SWYO+lKn15dSZJjs+Orc20GWs1+ABah1dUVg=='],
    negatives: ['batch_account_key: jLe3NYD2e8wc5KehvHAK0zok65OZdZO7Tkvrq4bIB99cYnDwA37PH0JQZkaJ+ABao7ryPD=='],
  }),
  azureIdentifiableKey({
    id: 'azure-iot-key',
    name: 'Azure IoT Hub / DPS / device key',
    description: 'An Azure IoT Hub, Device Provisioning Service or device symmetric key in the identifiable format.',
    signature: 'AIoT',
    shape: 'base64-32',
    seeds: AZURE_CHECKSUM_SEEDS.iot,
    examples: ['deviceKey: hbLHp0al5N1PdlskLq1bbcWA3P0EHNJ7HAIoTBJIP0Y='],
    negatives: ['deviceKey: ging8VKE0DQXY9jN7RXvdBcN6NFLVbv3cAIoTzVs6l4='],
  }),
]

