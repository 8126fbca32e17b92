#!/usr/bin/env python3
"""Makes the fuzz seed corpora from real captures (run by hand; the seeds are
committed). Usage: make_seeds.py PCAP... (classic pcap files; pcapng skipped)

corpus/packet/<name>   one seed per capture, in packet_fuzz's input format
corpus/stream/<name>   one seed per TCP flow with payload, in stream_fuzz's format
corpus/frame/, corpus/policy/ are made from other sources (see README.md).
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LINK = {1: 0, 113: 1, 276: 2, 101: 3, 228: 3, 229: 3, 0: 4, 108: 5}
STREAM_PORTS = [389, 3268, 88, 80, 8080, 2575, 6661, 104, 11112, 5432, 3306, 21, 445, 139, 1433, 443, 22]
MAX_SEED = 48 * 1024


def packets(path):
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        return None, []
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        end = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        end = '>'
    else:
        return None, []
    linktype = struct.unpack(end + 'I', data[20:24])[0] & 0xffff
    out, pos = [], 24
    while pos + 16 <= len(data):
        incl = struct.unpack(end + 'I', data[pos + 8:pos + 12])[0]
        out.append(data[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    return linktype, out


def tcp_payloads(linktype, frames):
    """(client_port, server_port, from_client, payload) for simple Ethernet/IPv4 TCP."""
    flows = {}
    for fr in frames:
        off = {1: 14, 113: 16, 0: 4, 108: 4, 101: 0}.get(linktype)
        if off is None:
            continue
        if linktype == 1:
            etype = struct.unpack('>H', fr[12:14])[0]
            while etype in (0x8100, 0x88a8) and len(fr) >= off + 4:
                etype = struct.unpack('>H', fr[off + 2:off + 4])[0]
                off += 4
            if etype != 0x0800:
                continue
        ip = fr[off:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack('>H', ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport = struct.unpack('>HH', tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if not payload:
            continue
        server = dport if dport in STREAM_PORTS or dport < sport else sport
        client = sport if server == dport else dport
        flows.setdefault((client, server), []).append((sport == client, payload))
    return flows


def main():
    for sub in ('packet', 'stream'):
        os.makedirs(os.path.join(HERE, 'corpus', sub), exist_ok=True)
    for path in sys.argv[1:]:
        linktype, frames = packets(path)
        if linktype is None or linktype not in LINK:
            continue
        name = os.path.splitext(os.path.basename(path))[0]
        seed = bytes([LINK[linktype]])
        for fr in frames:
            fr = fr[:65535]
            if len(seed) + 2 + len(fr) > MAX_SEED:
                break
            seed += struct.pack('>H', len(fr)) + fr
        with open(os.path.join(HERE, 'corpus', 'packet', name), 'wb') as f:
            f.write(seed)
        for (client, server), parts in tcp_payloads(linktype, frames).items():
            if server not in STREAM_PORTS:
                continue
            seed = bytes([STREAM_PORTS.index(server)])
            for from_client, payload in parts:
                while payload:
                    n = min(len(payload), 253)
                    n = ((n - 1) // 4) * 4 + 1
                    control = (0 if from_client else 0x80) | ((n - 1) // 4)
                    seed += bytes([control]) + payload[:n]
                    payload = payload[n:]
            if len(seed) > MAX_SEED:
                seed = seed[:MAX_SEED]
            with open(os.path.join(HERE, 'corpus', 'stream', f'{name}-{server}-{client}'), 'wb') as f:
                f.write(seed)


if __name__ == '__main__':
    main()
