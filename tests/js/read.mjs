// Reads a feed file with a JavaScript feed client and prints what a reader would show, as JSON.
// usage: node read.mjs rss-parser|feed-extractor FILE
import { readFileSync } from "node:fs";

const [client, file] = process.argv.slice(2);
const xml = readFileSync(file, "utf8");

async function main() {
  if (client === "rss-parser") {
    const Parser = (await import("rss-parser")).default;
    const feed = await new Parser().parseString(xml);
    return {
      title: feed.title ?? null,
      link: feed.link ?? null,
      entries: feed.items.map((item) => ({
        id: item.guid ?? item.id ?? null,
        title: item.title ?? null,
        link: item.link ?? null,
        summary: item.contentSnippet ?? null,
        content: item["content:encoded"] ?? item.content ?? null,
      })),
    };
  }
  if (client === "feed-extractor") {
    const { extractFromXml } = await import("@extractus/feed-extractor");
    const feed = extractFromXml(xml, { descriptionMaxLen: 100000 });
    return {
      title: feed.title ?? null,
      link: feed.link ?? null,
      entries: (feed.entries ?? []).map((entry) => ({
        id: entry.id ?? null,
        title: entry.title ?? null,
        link: entry.link ?? null,
        summary: entry.description ?? null,
        content: null,
      })),
    };
  }
  throw new Error(`unknown client ${client}`);
}

main().then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    process.stderr.write(String(error));
    process.exit(1);
  },
);
