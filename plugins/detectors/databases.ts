/**
 * Database and broker credentials: connection URIs with an embedded password (PostgreSQL, MySQL,
 * MariaDB, MongoDB, Redis, AMQP, SQL Server, JDBC, ClickHouse, Cassandra, Couchbase, Neo4j, LDAP),
 * any `scheme://user:password@host`, ADO.NET connection strings, `.pgpass` lines and passwords
 * given to database command-line clients. The secret is always the password.
 *
 * Placeholders are dropped here only when they are obviously not a password at all (`password`,
 * `****`, `${DB_PASSWORD}`, `{{ pw }}`); the fixtures filter judges the rest (`changeme`, `secret`).
 */
import { type DetectorDefinition, defineDetector } from '../../core/detector.ts'
import { anyCase } from './keyword-window.ts'

const NOT_A_PASSWORD = [
  /^(?:\*+|x{3,}|X{3,}|\.{3,})$/i,
  // a word naming itself a password: password, passwd, proxypass, mypassword, dbsecret
  /^[a-z]*(?:pass(?:word|wd)?|pwd|secret)[a-z]*$/i,
  // variable references and templates: ${X}, $X, $(x), {{ x }}, %(x)s, %X%, @X@, [x]
  /^(?:\$\{[^}]*\}|\$\(?[A-Za-z_][A-Za-z0-9_]*\)?|\{\{.*\}\}|%\([^)]*\)s|%[A-Za-z_][A-Za-z0-9_]*%|@[A-Za-z_]+@|\[[^\]]*\])$/,
]

const isPassword = (value: string): boolean => !NOT_A_PASSWORD.some((pattern) => pattern.test(value))

/**
 * `<scheme>://[user]:<password>@<host>`. The password runs to the last `@` of the authority, as URL
 * parsers read it, and may not hold `/`, `?`, `#`, quotes or spaces; the host must end the authority.
 */
const credentialUri = (schemes: string): RegExp =>
  new RegExp(
    `(?<![A-Za-z0-9+.:-])(?:${schemes})://(?<user>[^\\s:/?#@'"\`<>]{0,128}):(?<secret>[^\\s:/?#'"\`<>]{1,256})@(?<host>[A-Za-z0-9._~%-]+|\\[[0-9A-Fa-f:.]+\\])(?=[:/?#\\s'"\`<>;,)\\]}]|$)`,
  )

/** RFC 2606/6761 names: a URL to them is documentation (`https://abc:xyz@example.com`) */
const DOCUMENTATION_HOST = /(?:^|\.)example\.(?:com|org|net)$|\.(?:example|test|invalid)$|^example$/i

/**
 * A URL password: at least three characters, not a port (`http://host:8080@…` is a malformed URL,
 * not a credential), and not pointing at a documentation host.
 */
const isUriPassword = (value: string, match: RegExpExecArray): boolean =>
  isPassword(value) &&
  value.length >= 3 &&
  !/^\d{1,5}$/.test(value) &&
  !DOCUMENTATION_HOST.test(match.groups?.host ?? '') &&
  // anonymous FTP and CVS logins are public by convention
  !/^(?:anonymous|anoncvs|ftp)$/i.test(match.groups?.user ?? '')

interface UriSpec {
  id: string
  name: string
  schemes: string
  keywords: string[]
  description: string
  examples: string[]
  negatives: string[]
}

const connectionUri = (spec: UriSpec): DetectorDefinition =>
  defineDetector({
    id: spec.id,
    name: spec.name,
    description: spec.description,
    confidence: 'high',
    keywords: spec.keywords,
    pattern: credentialUri(spec.schemes),
    validate: isUriPassword,
    examples: spec.examples,
    negatives: spec.negatives,
  })

export const databaseDetectors: DetectorDefinition[] = [
  connectionUri({
    id: 'postgres-connection-uri',
    name: 'PostgreSQL connection URI with password',
    schemes: 'postgres(?:ql)?(?:\\+[a-z0-9]+)?',
    keywords: ['postgres://', 'postgresql://', 'postgresql+', 'postgres+'],
    description: 'A postgres:// or postgresql:// URI (SQLAlchemy driver suffixes too) carrying the role\'s password.',
    examples: [
      'DATABASE_URL=postgres://app:VQzciyNOOO3OiE@db.internal:5432/orders',
      'SQLALCHEMY_DATABASE_URI = "postgresql+psycopg2://etl:IrjAa9RR7TTbIW@10.0.3.7/warehouse?sslmode=require"',
      'url: postgresql://analytics:p%40ss%21a3ofvBTo6N@[2001:db8::5]:5432/metrics',
    ],
    negatives: [
      'DATABASE_URL=postgres://user:password@localhost:5432/db',
      'DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/orders',
      'postgres://app@db.internal:5432/orders',
      'postgresql://app:****@db/orders',
      'jdbc:postgresql://db.internal:5432/orders',
    ],
  }),
  connectionUri({
    id: 'mysql-connection-uri',
    name: 'MySQL connection URI with password',
    schemes: 'mysql(?:x|2)?(?:\\+[a-z0-9]+)?',
    keywords: ['mysql://', 'mysqlx://', 'mysql2://', 'mysql+'],
    description: 'A mysql:// URI (mysqlx, mysql2 and SQLAlchemy driver suffixes too) carrying the user\'s password.',
    examples: ['DATABASE_URL="mysql://root:aIUwK73uDXj44a@mysql:3306/shop"', "engine = create_engine('mysql+pymysql://svc:KVGedXfSDz6K3t@rds.acme-corp.io/app')"],
    negatives: ['mysql://root:{{ mysql_root_password }}@mysql:3306/shop', 'mysql://root@localhost/test'],
  }),
  connectionUri({
    id: 'mariadb-connection-uri',
    name: 'MariaDB connection URI with password',
    schemes: 'mariadb(?:\\+[a-z0-9]+)?',
    keywords: ['mariadb://', 'mariadb+'],
    description: 'A mariadb:// URI carrying the user\'s password.',
    examples: ['DB_DSN=mariadb://wp:2qj4WgFvC6KX45@mariadb:3306/wordpress'],
    negatives: ['mariadb://wp:$WP_DB_PASSWORD@mariadb:3306/wordpress'],
  }),
  connectionUri({
    id: 'mongodb-connection-uri',
    name: 'MongoDB connection URI with password',
    schemes: 'mongodb(?:\\+srv)?',
    keywords: ['mongodb://', 'mongodb+srv://'],
    description: 'A mongodb:// or mongodb+srv:// URI carrying the user\'s password (Atlas clusters included).',
    examples: [
      'MONGO_URL=mongodb+srv://api:TtLzXqCE4w2ihn@cluster0.ab1cd.mongodb.net/prod?retryWrites=true&w=majority',
      'mongodb://admin:E8kwiXVrWq3uPn@mongo-0.mongo:27017,mongo-1.mongo:27017/?replicaSet=rs0',
    ],
    negatives: ['mongodb+srv://api:<password>@cluster0.ab1cd.mongodb.net/', 'mongodb://mongo:27017/prod'],
  }),
  connectionUri({
    id: 'redis-connection-uri',
    name: 'Redis connection URI with password',
    schemes: 'rediss?|redis\\+sentinel|redis-sentinel|valkeys?',
    keywords: ['redis://', 'rediss://', 'redis+sentinel://', 'redis-sentinel://', 'valkey://', 'valkeys://'],
    description: 'A redis:// or rediss:// URI (Sentinel and Valkey too) carrying the AUTH password.',
    examples: ['REDIS_URL=redis://:n3Ao7DxN7aUZyZ@redis-master:6379/0', 'CELERY_BROKER_URL = "rediss://default:oW0yHPfK9LGXmm@cache.acme-corp.io:6380"'],
    negatives: ['REDIS_URL=redis://redis:6379/0', 'REDIS_URL=redis://:%(redis_password)s@redis:6379/0'],
  }),
  connectionUri({
    id: 'amqp-connection-uri',
    name: 'AMQP connection URI with password',
    schemes: 'amqps?',
    keywords: ['amqp://', 'amqps://'],
    description: 'An amqp:// or amqps:// (RabbitMQ) URI carrying the user\'s password.',
    examples: ['RABBITMQ_URL=amqp://orders:KRSFei02QwkcFj@rabbitmq:5672/%2F', "broker_url = 'amqps://svc:HvKK812mKQ5POB@b-1234.mq.eu-west-1.amazonaws.com:5671'"],
    negatives: ['amqp://orders@rabbitmq:5672/', 'amqp://rabbitmq:5672'],
  }),
  connectionUri({
    id: 'mssql-connection-uri',
    name: 'SQL Server connection URI with password',
    schemes: 'mssql(?:\\+[a-z0-9]+)?|sqlserver',
    keywords: ['mssql://', 'mssql+', 'sqlserver://'],
    description: 'An mssql:// or sqlserver:// URI (SQLAlchemy and Go driver style) carrying the login\'s password.',
    examples: ['SQLSERVER_URL=sqlserver://sa:yKZVXuCZ7yJbJt@mssql:1433?database=master', 'mssql+pyodbc://report:or32m6vE5LTh4o@dwh.acme-corp.io/sales?driver=ODBC+Driver+18'],
    negatives: ['sqlserver://sa:${SA_PASSWORD}@mssql:1433'],
  }),
  connectionUri({
    id: 'clickhouse-connection-uri',
    name: 'ClickHouse connection URI with password',
    schemes: 'clickhouse(?:s|\\+[a-z0-9]+)?',
    keywords: ['clickhouse://', 'clickhouses://', 'clickhouse+'],
    description: 'A clickhouse:// URI carrying the user\'s password.',
    examples: ['CLICKHOUSE_URL=clickhouse://default:vI74k6oRi1bs5u@clickhouse:9000/events'],
    negatives: ['clickhouse://default@clickhouse:9000/events'],
  }),
  connectionUri({
    id: 'cassandra-connection-uri',
    name: 'Cassandra connection URI with password',
    schemes: 'cassandra',
    keywords: ['cassandra://'],
    description: 'A cassandra:// URI carrying the role\'s password.',
    examples: ['CASSANDRA_URL=cassandra://app:s53ySJKpSDp2Rx@cassandra-0.cassandra:9042/keyspace1'],
    negatives: ['cassandra://cassandra-0.cassandra:9042'],
  }),
  connectionUri({
    id: 'couchbase-connection-uri',
    name: 'Couchbase connection URI with password',
    schemes: 'couchbases?',
    keywords: ['couchbase://', 'couchbases://'],
    description: 'A couchbase:// or couchbases:// URI carrying the user\'s password.',
    examples: ['COUCHBASE_URL=couchbases://sync:wKzEU2ocxoQhsM@cb.acme-corp.io'],
    negatives: ['couchbase://localhost'],
  }),
  connectionUri({
    id: 'neo4j-connection-uri',
    name: 'Neo4j connection URI with password',
    schemes: '(?:neo4j|bolt)(?:\\+ssc|\\+s)?',
    keywords: ['neo4j://', 'neo4j+s://', 'neo4j+ssc://', 'bolt://', 'bolt+s://', 'bolt+ssc://'],
    description: 'A neo4j:// or bolt:// URI carrying the user\'s password.',
    examples: ['NEO4J_URI=neo4j+s://neo4j:pXVHrEIyDLw2Gy@a1b2c3d4.databases.neo4j.io'],
    negatives: ['NEO4J_URI=bolt://neo4j:7687'],
  }),
  connectionUri({
    id: 'ldap-bind-url',
    name: 'LDAP bind URL with password',
    schemes: 'ldaps?',
    keywords: ['ldap://', 'ldaps://'],
    description: 'An ldap:// or ldaps:// URL carrying a bind DN\'s password.',
    examples: ['LDAP_URL=ldaps://cn=svc-gitlab,ou=services,dc=example,dc=com:pdu0GINXO6HX5R@ldap.acme-corp.io:636'],
    negatives: ['ldap://ldap.example.com:389/dc=example,dc=com', 'ldaps://cn=admin,dc=example,dc=org:password@ldap'],
  }),
  defineDetector({
    id: 'basic-auth-url',
    name: 'URL with embedded credentials',
    description: 'Any scheme://user:password@host URL (HTTP, FTP, SMTP, Git remotes, proxies): the password is sent to the host.',
    confidence: 'medium',
    keywords: ['://'],
    // anchored on the literal `://` so the engine can skip ahead; the scheme is checked behind it
    pattern:
      /:\/\/(?<=(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}:\/\/)(?<user>[^\s:/?#@'"`<>]{0,128}):(?<secret>[^\s:/?#'"`<>]{1,256})@(?<host>[A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.]+\])(?=[:/?#\s'"`<>;,)\]}]|$)/,
    validate: isUriPassword,
    examples: [
      'git remote add origin https://deploy:GEivpYcdIqg4sF@git.acme-corp.io/team/app.git',
      'HTTPS_PROXY=http://proxyuser:8gy0X24k8DkXXG@proxy.acme-corp.internal:3128',
      'SMTP_URL=smtps://mailer:pAHmXjBO7S2cwD@smtp.acme-mail.net:465',
    ],
    negatives: [
      'https://user:password@example.com',
      'export http_proxy="http://proxyuser:proxypass@proxyhost:port"',
      "const myURL = new URL('https://abc:xyz@example.com');",
      'https://a:b@xn--g6w251d/?abc#foo',
      'https://${GIT_USER}:${GIT_TOKEN}@git.acme-corp.io/repo.git',
      'https://example.com:8443/path',
      'http://proxy:3128@gateway',
      'See https://en.wikipedia.org/wiki/URL for the user:pass@host syntax',
      'ssh://git@github.com:22/org/repo.git',
      'cvs://:pserver:anoncvs@sources.redhat.com:/cvs/src',
      'ftp://anonymous:guest2024@ftp.gnu.org/gnu/',
    ],
  }),
  defineDetector({
    id: 'jdbc-url-credentials',
    name: 'JDBC URL with password',
    description: 'A JDBC URL with the password in its authority (`jdbc:mysql://user:pw@host`) or in Oracle thin form (`jdbc:oracle:thin:user/pw@host`).',
    confidence: 'high',
    keywords: ['jdbc:'],
    pattern:
      /jdbc:(?:oracle:(?:thin|oci):(?<oracleUser>[^\s/@:'"]{1,128})\/|[a-z0-9]+(?::[a-z0-9]+)*:\/\/(?<user>[^\s:/?#@'"`<>;]{0,128}):)(?<secret>[^\s/?#'"`<>;]{1,256})@(?<host>[A-Za-z0-9._~%:/-]+)/,
    validate: isUriPassword,
    examples: ['spring.datasource.url=jdbc:mysql://app:U8LCeA0T9ZP2Gl@mysql:3306/inventory', 'jdbc.url=jdbc:oracle:thin:scott/XZPioa0M07KYAs@//ora.acme-corp.io:1521/ORCL'],
    negatives: ['spring.datasource.url=jdbc:postgresql://db:5432/app', 'jdbc:oracle:thin:@//ora.acme-corp.io:1521/ORCL', 'jdbc:mysql://app:${DB_PASS}@mysql/inventory'],
  }),
  defineDetector({
    id: 'jdbc-password-parameter',
    name: 'JDBC URL password parameter',
    description: 'A JDBC URL carrying `password=` as a query or `;`-separated parameter (SQL Server, PostgreSQL, MySQL drivers).',
    confidence: 'high',
    keywords: ['jdbc:'],
    pattern: new RegExp(`jdbc:[a-z0-9]+(?::[a-z0-9]+)*:[^\\s'"\`<>]{0,300}?[;?&]${anyCase('password')}=(?<secret>[^;&\\s'"\`<>]{1,256})`),
    validate: isPassword,
    examples: [
      'DB_URL=jdbc:sqlserver://sql.acme-corp.io:1433;databaseName=crm;user=crm_app;password=VQzciyNOOO3OiE;encrypt=true',
      'datasource.url: "jdbc:postgresql://db:5432/app?user=app&password=IrjAa9RR7TTbIW&ssl=true"',
    ],
    negatives: ['jdbc:sqlserver://sql:1433;databaseName=crm;user=sa;password=${SA_PASSWORD}', 'jdbc:postgresql://db:5432/app?user=app'],
  }),
  defineDetector({
    id: 'ado-net-connection-string',
    name: 'Connection string with password',
    description: 'An ADO.NET / ODBC style connection string (`Server=…;User Id=…;Password=…`) with the password inline.',
    confidence: 'high',
    keywords: ['password', 'pwd='],
    pattern: new RegExp(
      `(?<![A-Za-z])(?:${['server', 'data source', 'host', 'address', 'addr', 'datasource'].map(anyCase).join('|')})[ \\t]*=[^;"'\\n]{1,256};[^"'\\n]{0,512}?(?<![A-Za-z])(?:${anyCase('password')}|${anyCase('pwd')})[ \\t]*=[ \\t]*(?<secret>[^;"'\\n]{1,256}?)[ \\t]*(?=[;"'\\n]|$)`,
    ),
    validate: isPassword,
    examples: [
      '"DefaultConnection": "Server=tcp:sql.acme-corp.io,1433;Initial Catalog=Shop;User ID=shop_app;Password=a3ofvBTo6N2NjY;Encrypt=True;"',
      'ConnectionStrings__Db=Host=pg;Database=app;Username=app;Pwd=aIUwK73uDXj44a',
    ],
    negatives: ['Server=sql;Database=Shop;Trusted_Connection=True;', 'Server=sql;Database=Shop;User Id=sa;Password=;', 'Server=sql;User Id=sa;Password=$(SqlPassword);'],
  }),
  defineDetector({
    id: 'pgpass-entry',
    name: '.pgpass entry',
    description: 'A PostgreSQL password file line (`host:port:database:user:password`), in a .pgpass file or written into one.',
    confidence: 'medium',
    keywords: [':5432:', ':5433:', ':6432:', ':*:'],
    pattern: /(?<=^|["'\s])(?<host>[A-Za-z0-9*._-]{1,253}):(?:5432|5433|6432|\*):(?<database>[^:\s"']{1,63}):(?<user>[^:\s"']{1,63}):(?<secret>(?:[^\s"':\\]|\\.){1,256})(?=["']|\r?\n|$)/m,
    // passwd-style lines (uid:gid) share the shape: a pgpass database and user are names
    validate: (value, match) => isPassword(value) && !(/^\d+$/.test(match.groups?.database ?? '') && /^\d+$/.test(match.groups?.user ?? '')),
    examples: ['db.internal:5432:orders:orders_rw:KVGedXfSDz6K3t', 'RUN echo "*:*:*:replicator:2qj4WgFvC6KX45" > /root/.pgpass && chmod 600 /root/.pgpass'],
    negatives: [
      'localhost:5432:*:postgres:password',
      'db.internal:5432:orders:orders_rw:${PGPASSWORD}',
      'ports: "5432:5432"',
      // /etc/shadow lines have a * where pgpass has its port
      'root:*:20228:0:99999:7:::',
      'list:*:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin',
    ],
  }),
  defineDetector({
    id: 'mysql-cli-password',
    name: 'MySQL / MariaDB client password on the command line',
    description: 'A password passed to mysql, mysqldump, mysqladmin or mariadb as `-p<password>` or `--password=<password>`, often left in build steps.',
    confidence: 'high',
    keywords: ['mysql', 'mariadb'],
    pattern:
      /\b(?:mysql(?:dump|admin|import|check|show|slap)?|mariadb(?:-dump|-admin|dump|admin)?)\b[^\n]{0,200}?[ \t](?:-p|--password=)(?<quote>["']?)(?<secret>[^\s"'$][^\s"']{2,127})\k<quote>(?=\s|$|;|&|\|)/,
    validate: isPassword,
    examples: [
      'RUN mysql -h db -uroot -pTtLzXqCE4w2ihn < /docker-entrypoint-initdb.d/schema.sql',
      'mysqldump --single-transaction --password="E8kwiXVrWq3uPn" shop > /backup/shop.sql',
    ],
    negatives: ['mysql -h db -u root -p shop', 'mysqldump --password=$MYSQL_PWD shop', 'docker run -p 3306:3306 mysql:8', 'mysql -uroot -p"${MYSQL_ROOT_PASSWORD}"'],
  }),
  defineDetector({
    id: 'redis-cli-password',
    name: 'redis-cli password on the command line',
    description: 'A password passed to redis-cli with `-a` or `--pass`.',
    confidence: 'high',
    keywords: ['redis-cli'],
    pattern: /\bredis-cli\b[^\n]{0,200}?[ \t](?:-a|--pass|--askpass)[ \t]+(?<quote>["']?)(?<secret>[^\s"'$-][^\s"']{2,127})\k<quote>(?=\s|$|;|&|\|)/,
    validate: isPassword,
    examples: ['HEALTHCHECK CMD redis-cli -h 127.0.0.1 -a n3Ao7DxN7aUZyZ ping'],
    negatives: ['redis-cli -a "$REDIS_PASSWORD" ping', 'redis-cli --askpass'],
  }),
  defineDetector({
    id: 'mongodb-cli-password',
    name: 'MongoDB shell or tool password on the command line',
    description: 'A password passed to mongosh, mongo, mongodump or mongorestore with `-p` or `--password`.',
    confidence: 'high',
    keywords: ['mongo'],
    pattern:
      /\bmongo(?:sh|dump|restore|import|export|stat|top)?\b[^\n]{0,200}?[ \t](?:-p|--password)(?:[ \t]+|=)(?<quote>["']?)(?<secret>[^\s"'$-][^\s"']{2,127})\k<quote>(?=\s|$|;|&|\|)/,
    validate: isPassword,
    examples: ['mongodump --host mongo --username backup --password oW0yHPfK9LGXmm --out /dump'],
    negatives: ['mongosh --username admin --password', 'mongorestore -u admin -p "$MONGO_PASSWORD" /dump'],
  }),
]
