# The Gatehouse gateway. Build: docker build -t gatehouse .
# Run:   docker run -p 8080:8080 -v $PWD/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml gatehouse
# The config must listen on 0.0.0.0 inside a container, and auth.mode must then be grants or jwt.

# Compile the TypeScript, build the dashboard and bundle the CLI, with the dev dependencies.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
COPY scripts/bundle-cli.mjs ./scripts/
RUN npm run build

# The runtime: production dependencies and the compiled code only.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY schema ./schema
USER node
EXPOSE 8080
ENTRYPOINT ["node", "bin/gatehouse.js"]
CMD ["start", "-c", "/etc/gatehouse/gatehouse.yaml"]
