import { BlockList, isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { loadEnv, type Env } from '../../config/env.js';
import { KeyturnError } from '../../config/errors.js';

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

/** What a development machine's subscribers may reach when KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS is unset. */
export const LOOPBACK_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128'];

export const ALLOWED_NETWORKS_VARIABLE = 'KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS';

// Every public IPv6 unicast address is in 2000::/3; ipaddr.js calls the rest of the space (::/96
// IPv4-compatible addresses, say) "unicast" too.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

const RANGE_NAMES: Record<string, string> = {
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  multicast: 'a multicast',
  linkLocal: 'a link-local',
  loopback: 'a loopback',
  carrierGradeNat: 'a carrier-grade NAT (100.64.0.0/10)',
  private: 'a private',
  reserved: 'a reserved or documentation',
  uniqueLocal: 'a unique-local',
  deprecatedSiteLocal: 'a site-local',
  '6to4': 'a 6to4',
  teredo: 'a Teredo',
  rfc6052: 'a NAT64',
  rfc6145: 'an IPv4-translated',
  benchmarking: 'a benchmarking',
};
const describe = (range: string) => RANGE_NAMES[range] ?? `a special-purpose (${range})`;

/**
 * Where revocation notices may be sent: public unicast addresses, plus the networks an operator
 * listed. Loopback, private, link-local (cloud metadata), unique-local, CGNAT, multicast, reserved
 * and documentation addresses are refused, also when written IPv4-mapped or behind NAT64.
 */
export class SubscriberAddressPolicy {
  private readonly allowed = new BlockList();

  constructor(readonly allowedNetworks: readonly string[] = []) {
    for (const entry of allowedNetworks) {
      const [ip, bits] = parseNetwork(entry);
      this.allowed.addSubnet(ip.toString(), bits, ip.kind());
    }
  }

  /** Why a connection to `address` is refused ("10.0.0.5 is a private address"), or undefined when it may go ahead. */
  refusal(address: string): string | undefined {
    const ip = parseIp(address);
    if (!ip) return `${JSON.stringify(address)} is not an IP address`;
    if (this.allowed.check(ip.toString(), ip.kind())) return undefined;
    const what = nonPublic(ip);
    return what === undefined ? undefined : `${address} is ${what} address`;
  }
}

/** The policy the configuration sets; on a development machine an unset allow-list means loopback. */
export function subscriberAddressPolicy(env: Pick<Env, 'KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS'> = loadEnv(), opts: { dev?: boolean } = {}): SubscriberAddressPolicy {
  return new SubscriberAddressPolicy(env.KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS ?? (opts.dev ? LOOPBACK_NETWORKS : []));
}

/** An IP literal as written in a url's host (`[::1]` included), or undefined for a host name. */
export function ipLiteral(hostname: string): { address: string; family: 4 | 6 } | undefined {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const family = isIP(bare);
  return family === 4 || family === 6 ? { address: bare, family } : undefined;
}

/** Dotted-quad IPv4 or IPv6 without a zone; IPv4-mapped IPv6 as the IPv4 address it reaches. */
function parseIp(address: string): Ip | undefined {
  if (isIP(address) === 0 || address.includes('%')) return undefined;
  const ip = ipaddr.parse(address);
  return ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress() ? ip.toIPv4Address() : ip;
}

function parseNetwork(entry: string): [Ip, number] {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (family === 0 || address.includes('%') || rest.length > 0 || !(bits >= 0 && bits <= max)) {
    throw new KeyturnError('CONFIG_INVALID', `${ALLOWED_NETWORKS_VARIABLE} entry ${JSON.stringify(entry)} is not an IP address or CIDR range`, 'List addresses or CIDR ranges, comma-separated, such as 10.20.0.0/16,fd00:1::/64.');
  }
  const ip = ipaddr.parse(address);
  // An IPv4-mapped range covers the IPv4 addresses it maps, which is how those are checked.
  if (ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress() && bits >= 96) return [ip.toIPv4Address(), bits - 96];
  return [ip, bits];
}

/** How a non-public address is described ("a private"), or undefined for a public unicast one. */
function nonPublic(ip: Ip): string | undefined {
  if (ip instanceof ipaddr.IPv4) return ip.range() === 'unicast' ? undefined : describe(ip.range());
  if (ip.match(NAT64_WELL_KNOWN)) {
    // The well-known NAT64 prefix reaches the IPv4 address in its last 32 bits: judged as that one.
    const embedded = nonPublic(new ipaddr.IPv4(ip.toByteArray().slice(12)));
    return embedded === undefined ? undefined : `a NAT64 form of ${embedded}`;
  }
  if (ip.range() !== 'unicast') return describe(ip.range());
  return ip.match(GLOBAL_UNICAST_V6) ? undefined : describe('reserved');
}
