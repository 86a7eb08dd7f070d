#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster (Debian's postgresql package) for the integration tests
# and create a role that may create the per-run test databases. Prints the URL to use as
# TEST_POSTGRES_URL. Idempotent. For CI and laptops without Docker; needs root or the postgres user.
set -euo pipefail

role=${TEST_POSTGRES_ROLE:-loan_test}
password=${TEST_POSTGRES_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')}

cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  echo "no PostgreSQL cluster found: apt-get install postgresql" >&2
  exit 1
fi
read -r version name <<<"$cluster"
port=$(pg_lsclusters --no-header | awk 'NR==1 {print $3}')
if ! pg_lsclusters --no-header | awk 'NR==1 {print $4}' | grep -q online; then
  pg_ctlcluster "$version" "$name" start >&2
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p "$port" >&2

runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
    CREATE ROLE ${role} LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE ${role} PASSWORD '${password}';
SQL
echo "postgresql+asyncpg://${role}:${password}@127.0.0.1:${port}/postgres"
