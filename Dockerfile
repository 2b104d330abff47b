# fulcrum container image (README "Running in production").
#   docker build -t fulcrum .
#   docker run --rm -p 8080:8080 -v $PWD/config.json:/etc/fulcrum/config.json:ro fulcrum
# The config is read from /etc/fulcrum/config.json (mount yours there; the image ships the
# default). To reach the admin listener from outside, set "admin": { "host": "0.0.0.0",
# "token": "<16+ chars>" } and publish 9090 (a non-loopback admin host requires a token).
#
# Checked by test/dockerfile.test.ts through scripts/docker-check.mjs, which runs these stages'
# RUN steps in a temporary folder when no Docker daemon answers (and `docker build` when one
# does). So RUN steps use paths relative to WORKDIR; COPY may name absolute destinations.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
# only the shipped code (tsconfig.build.json: no test/, no native-bench/), then production
# dependencies only, with the uWS binary of this platform and Node ABI alone
RUN npm run build:dist && npm prune --omit=dev --ignore-scripts --no-audit --no-fund && node dist/scripts/prune-uws.js node_modules

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/fulcrum
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/config.schema.json ./
COPY package.json config.json README.md ./
COPY bin ./bin
COPY config.json /etc/fulcrum/config.json
# the image's unprivileged user (uid 1000); fulcrum needs no root: ports above 1024 inside
USER node
EXPOSE 8080 9090
# SIGTERM (docker stop) drains in-flight requests for up to timeouts.drainMs (30 s by default):
# give it that long, e.g. docker stop -t 45
STOPSIGNAL SIGTERM
# Healthy = the admin listener answers GET /status and every worker is running (`fulcrum health`
# reads the admin address and token from the same config). Not a request through the proxy port:
# that would report the backends' health, and restarting fulcrum does not mend a backend.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["node", "/opt/fulcrum/bin/fulcrum.js", "health", "-c", "/etc/fulcrum/config.json"]
ENTRYPOINT ["node", "/opt/fulcrum/bin/fulcrum.js"]
CMD ["start", "-c", "/etc/fulcrum/config.json"]
