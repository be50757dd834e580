// The guide's original stack doing what clip-app's GET /api/projects does, written as a
// Fastify user would: node-postgres' pg.Pool (20 connections) and named (prepared) queries,
// a validated query string, a response schema (fast-json-stringify), and the middleware
// clip-app runs on that route: a rate limit (@fastify/rate-limit, set high so it counts but
// never refuses, as clip-app's is in the comparison), request ids, X-Instance-Id and the
// same security headers.
//
//   DATABASE_URL=postgres://... PORT=3402 node server.js
"use strict";

const { randomUUID } = require("node:crypto");
const pg = require("pg");

// int8 ids as numbers, as clip-app serializes them (ids stay far below 2^53).
pg.types.setTypeParser(20, (value) => Number(value));

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
const instance = process.env.INSTANCE_ID || "fastify";
const app = require("fastify")({
  logger: false,
  genReqId: () => randomUUID(),
  requestIdHeader: "x-request-id",
});

app.register(require("@fastify/rate-limit"), { max: 1_000_000_000, timeWindow: 1000 });

app.addHook("onSend", async (request, reply, payload) => {
  reply.header("x-instance-id", instance);
  reply.header("x-request-id", request.id);
  reply.header("x-content-type-options", "nosniff");
  reply.header("x-frame-options", "DENY");
  reply.header("referrer-policy", "strict-origin-when-cross-origin");
  return payload;
});

const FIRST_PAGE = "SELECT id, name, created_at FROM projects ORDER BY id DESC LIMIT $1";
const NEXT_PAGE = "SELECT id, name, created_at FROM projects WHERE id < $1 ORDER BY id DESC LIMIT $2";

const project = {
  type: "object",
  properties: {
    id: { type: "integer" },
    name: { type: "string" },
    created_at: { type: "string", format: "date-time" },
  },
};

app.get("/api/projects", {
  schema: {
    querystring: {
      type: "object",
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 100, default: 20 },
        cursor: { type: "string", pattern: "^[1-9][0-9]{0,17}$" },
      },
      additionalProperties: false,
    },
    response: {
      200: {
        type: "object",
        properties: { items: { type: "array", items: project }, next_cursor: { type: "string" } },
      },
    },
  },
}, async (request) => {
  const { limit, cursor } = request.query;
  const { rows } = cursor
    ? await pool.query({ name: "next-page", text: NEXT_PAGE, values: [Number(cursor), limit + 1] })
    : await pool.query({ name: "first-page", text: FIRST_PAGE, values: [limit + 1] });
  if (rows.length > limit) {
    rows.length = limit;
    return { items: rows, next_cursor: String(rows[limit - 1].id) };
  }
  return { items: rows };
});

app.get("/health", async () => ({ status: "pass" }));

app.listen({ host: "127.0.0.1", port: Number(process.env.PORT || 3402) }).catch((error) => {
  console.error(error);
  process.exit(1);
});
