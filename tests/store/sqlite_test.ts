import { openSqliteStore } from "../../store/sqlite/store.ts";
import { storeContract } from "./contract.ts";

storeContract("sqlite", async (cipher) => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  const store = openSqliteStore(`${dir}/miranda.db`, cipher);
  return {
    ...store,
    location: dir,
    [Symbol.asyncDispose]: async () => {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});
