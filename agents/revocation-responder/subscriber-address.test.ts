import { describe, expect, it } from 'vitest';
import { LOOPBACK_NETWORKS, SubscriberAddressPolicy, subscriberAddressPolicy } from './subscriber-address.js';

const deny = new SubscriberAddressPolicy();

describe('the subscriber address policy', () => {
  it.each([
    ['169.254.169.254', 'link-local'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['127.0.0.1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['192.0.2.10', 'reserved or documentation'],
    ['198.18.0.1', 'reserved or documentation'],
    ['240.0.0.1', 'reserved or documentation'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved or documentation'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::a00:1', 'reserved or documentation'],
    ['64:ff9b::a00:1', 'NAT64 form of a private'],
    ['2002:a00:1::1', '6to4'],
  ])('refuses %s (%s)', (address, range) => {
    expect(deny.refusal(address)).toContain(range);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111', '2a00:1450:4001:80b::200e', '64:ff9b::5db8:d822'])('accepts the public address %s', (address) => {
    expect(deny.refusal(address)).toBeUndefined();
  });

  it.each(['hooks.example.test', '', '10.1', '0x7f.0.0.1', 'fe80::1%eth0', '999.1.1.1'])('refuses %j, which is not an IP address', (address) => {
    expect(deny.refusal(address)).toMatch(/is not an IP address/);
  });

  it('lets through the addresses of an allow-listed range, and only those', () => {
    const policy = new SubscriberAddressPolicy(['10.20.0.0/16', 'fd00:1::/64', '169.254.169.254']);
    expect([policy.refusal('10.20.3.4'), policy.refusal('fd00:1::7'), policy.refusal('169.254.169.254')]).toEqual([undefined, undefined, undefined]);
    expect(policy.refusal('10.21.0.1')).toContain('private');
    expect(policy.refusal('fd00:2::7')).toContain('unique-local');
    expect(policy.refusal('169.254.169.253')).toContain('link-local');
  });

  it('treats an IPv4-mapped address as the IPv4 address it reaches, in the allow-list too', () => {
    expect(new SubscriberAddressPolicy(['10.0.0.0/8']).refusal('::ffff:10.0.0.1')).toBeUndefined();
    expect(new SubscriberAddressPolicy(['::ffff:10.0.0.0/104']).refusal('10.0.0.1')).toBeUndefined();
  });

  it.each(['loopback', '10.0.0.0/33', '10.0.0.0/', '::1/129', 'fe80::/10%eth0', '10.0.0.0/8/8'])('refuses the allow-list entry %j with CONFIG_INVALID naming the variable', (entry) => {
    expect(() => new SubscriberAddressPolicy([entry])).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS') }));
  });

  it('allows nothing non-public when the allow-list is unset, and loopback only on a development machine', () => {
    expect(subscriberAddressPolicy({}).refusal('127.0.0.1')).toContain('loopback');
    expect(subscriberAddressPolicy({}, { dev: true }).allowedNetworks).toEqual(LOOPBACK_NETWORKS);
    expect(subscriberAddressPolicy({ KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS: ['10.0.0.0/8'] }, { dev: true }).refusal('127.0.0.1')).toContain('loopback');
  });
});
