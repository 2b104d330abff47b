# fulcrum container image (documented in README "Running in production"; not built in CI: there is
# no container engine on the CI machine).
#   docker build -t fulcrum .
#   docker run --rm -p 8080:8080 -p 127.0.0.1:9090:9090 -v $PWD/config.json:/etc/fulcrum/config.json:ro fulcrum
# In a container, set "admin": { "host": "0.0.0.0", "token": "<16+ chars>" } to reach the admin
# listener through the published port (a non-loopback admin host requires a token).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY test ./test
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/fulcrum
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json config.json config.schema.json README.md ./
COPY bin ./bin
RUN mkdir -p /etc/fulcrum && cp config.json /etc/fulcrum/config.json
USER node
EXPOSE 8080 9090
# SIGTERM (docker stop) drains in-flight requests; give it timeouts.drainMs: docker stop -t 45
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/fulcrum/bin/fulcrum.js"]
CMD ["start", "-c", "/etc/fulcrum/config.json"]
