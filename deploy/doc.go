// Package deploy holds the production-shaped deployment (docker-compose.yml at the
// repository root, and here: Dockerfiles, the compose config for hookmesh, Hasura
// metadata and migrations, the NATS cluster config). It has no code: its tests check
// those files against the code, without Docker — the environment names each
// container sets against the Config structs the binaries load, ports against
// listen addresses and health checks, Dockerfiles against the build context, the
// Hasura event triggers against the gateway's hasura source and the demo routes,
// and the NATS config by running it (three in-process servers) under a real gateway.
package deploy
