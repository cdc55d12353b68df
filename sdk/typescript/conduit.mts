// A Conduit client in TypeScript: openapi-fetch, typed by the `paths` that openapi-typescript
// generates from openapi/api.yaml (schema.ts, written next to this file by `make sdk`).
//
//   node dist/conduit.mjs http://127.0.0.1:8080/api USERNAME
//
// registers USERNAME, logs in, writes an article, finds it in the list and reads a 404 problem,
// printing one line per step; any answer other than the expected one exits with status 1.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Problem = components["schemas"]["Problem"];

class Mismatch extends Error {}

function expect(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Mismatch(what);
}

function bearer(token: string): Middleware {
  return {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  };
}

async function main(baseUrl: string, username: string): Promise<void> {
  const client = createClient<paths>({ baseUrl });
  const email = `${username}@example.com`;
  const password = `${username}-password`;

  const registered = await client.POST("/users", {
    body: { user: { username, email, password } },
  });
  expect(registered.response.status === 201, `register: status ${registered.response.status}`);
  expect(registered.data !== undefined, "register: no user");
  expect(registered.data.user.username === username, "register: another username");
  console.log(`registered ${registered.data.user.username} as ${registered.data.user.role}`);

  const login = await client.POST("/users/login", { body: { user: { email, password } } });
  expect(login.data !== undefined, `login: status ${login.response.status}`);
  expect(login.data.user.email === email, "login: another email");
  console.log(`logged in ${login.data.user.username}`);
  client.use(bearer(login.data.user.token));

  const title = `Typed ${username}`;
  const created = await client.POST("/articles", {
    body: {
      article: { title, description: "From TypeScript", body: "Typed", tagList: ["typescript"] },
    },
  });
  expect(created.response.status === 201, `create: status ${created.response.status}`);
  expect(created.data !== undefined, "create: no article");
  const article = created.data.article;
  expect(article.title === title && article.author.username === username, "create: wrong article");
  console.log(`created ${article.slug} tagged ${article.tagList.join(",")}`);

  const listed = await client.GET("/articles", {
    params: { query: { author: username, tag: "typescript", limit: 5 } },
  });
  expect(listed.data !== undefined, `list: status ${listed.response.status}`);
  const slugs = listed.data.articles.map((a) => a.slug);
  expect(slugs.includes(article.slug), `list: ${article.slug} not in ${slugs.join(",")}`);
  console.log(`listed ${listed.data.articlesCount}: ${slugs.join(",")}`);

  // two more, then the author's articles page by page, by cursor, one per page
  for (const n of [2, 3]) {
    const more = await client.POST("/articles", {
      body: { article: { title: `${title} ${n}`, description: "More", body: "Typed" } },
    });
    expect(more.response.status === 201, `create ${n}: status ${more.response.status}`);
  }
  const walked: string[] = [];
  let cursor: string | null | undefined = undefined;
  for (let page = 0; page < 10; page++) {
    const query: { author: string; limit: number; cursor?: string } = { author: username, limit: 1 };
    if (cursor) query.cursor = cursor;
    const next = await client.GET("/articles", { params: { query } });
    expect(next.data !== undefined, `page ${page}: status ${next.response.status}`);
    walked.push(...next.data.articles.map((a) => a.title));
    cursor = next.data.nextCursor;
    if (cursor === null) break;
  }
  console.log(`paged ${walked.length} by cursor: ${walked.join(",")}`);

  const missing = await client.GET("/articles/{slug}", {
    params: { path: { slug: `${article.slug}-missing` } },
  });
  expect(missing.data === undefined && missing.error !== undefined, "get: no error");
  const problem: Problem = missing.error;
  const status = missing.response.status;
  expect(problem.status === 404 && status === 404, `get: status ${status}, ${problem.status}`);
  const fields = Object.keys(problem.errors);
  expect(fields.length > 0, "get: a problem without errors");
  console.log(`problem ${problem.status} ${problem.title}: ${fields.join(",")}`);
}

const [baseUrl, username] = process.argv.slice(2);
if (baseUrl === undefined || username === undefined) {
  console.error("usage: node conduit.mjs BASE_URL USERNAME");
  process.exit(2);
}
try {
  await main(baseUrl, username);
  console.log("ok");
} catch (e) {
  console.error(e instanceof Mismatch ? `mismatch: ${e.message}` : e);
  process.exit(1);
}
