"""A real test fleet on one machine: network-namespace hosts with sshd, supervisor or
docker-compose, a Django app in the incident's broken state, PostgreSQL and MariaDB
behind a TCP delay proxy."""
