// Starts only the network proxy of @anthropic-ai/sandbox-runtime (npm), for bench/run.sh.
//
//   node bench/srt_proxy.mjs <package dir> <port> <allowed host>
//
// The package has no "proxy only" entry point: its proxy is started by SandboxManager.initialize(),
// which first insists on the sandbox's own dependencies (bubblewrap, socat, ripgrep, a seccomp
// helper, and not uid 0 without CAP_SETFCAP), none of which the proxy uses. So this file wires the
// package's own exported building blocks exactly as dist/sandbox/sandbox-manager.js
// startMuxProxyServer() does: createHttpProxyServer + createSocksProxyServer behind
// createMuxProxyServer (one loopback port; the first byte picks SOCKS or HTTP, and HTTP is piped
// to the HTTP server listening on a unix socket), with the same filter as filterNetworkRequest():
// isValidHost, canonicalizeHost, deny patterns, then allow patterns (matchesDomainPatternWithPort),
// nothing else allowed. Left out, as in a configuration without them: MITM/TLS termination,
// credential injection, a parent proxy, the violation store, and the per-session proxy auth token
// (SandboxManager generates one; the other proxies in this benchmark run without authentication
// too). The resolved-address guard is kept (lookupFor), though IP-literal targets never consult it.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [pkgDir, portArg, allowed] = process.argv.slice(2);
if (!pkgDir || !portArg || !allowed) {
  console.error("usage: node srt_proxy.mjs <package dir> <port> <allowed host>");
  process.exit(2);
}
const mod = (rel) => import(pathToFileURL(join(pkgDir, "dist", "sandbox", rel)).href);
const { createHttpProxyServer } = await mod("http-proxy.js");
const { createSocksProxyServer } = await mod("socks-proxy.js");
const { createMuxProxyServer } = await mod("mux-proxy.js");
const { canonicalizeHost, isValidHost } = await mod("parent-proxy.js");
const { matchesDomainPatternWithPort } = await mod("domain-pattern.js");
const { createResolvedAddressGuard } = await mod("resolved-address-guard.js");

const network = { allowedDomains: [allowed], deniedDomains: [] };
const guard = createResolvedAddressGuard(network);
const lookupFor = (port) => guard.lookupFor(port);

// filterNetworkRequest() of sandbox-manager.js without the ask callback and violation recording.
async function filter(port, host) {
  if (!isValidHost(host)) return false;
  const canonical = canonicalizeHost(host) ?? host;
  for (const d of network.deniedDomains) if (matchesDomainPatternWithPort(canonical, port, d)) return false;
  for (const a of network.allowedDomains) if (matchesDomainPatternWithPort(canonical, port, a)) return true;
  return false;
}

const httpServer = createHttpProxyServer({
  filter: (port, host) => filter(port, host),
  lookupFor,
});
const socksServer = createSocksProxyServer({
  filter: (port, host) => filter(port, host),
  lookupFor,
});
const mux = createMuxProxyServer({
  httpServer,
  handleSocksConnection: (s) => socksServer.handleConnection(s),
});
await mux.listenHttpBackend();
await new Promise((resolve, reject) => {
  mux.server.once("error", reject);
  mux.server.listen(Number(portArg), "127.0.0.1", resolve);
});
console.error(`srt proxy (HTTP+SOCKS5 mux) listening on 127.0.0.1:${mux.getPort()}`);

const shutdown = () => {
  mux.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
