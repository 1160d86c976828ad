/**
 * UDP hole punching: both peers send authenticated probes (`protocol/udp_probe.ts`) from the
 * ports they used toward the server to every candidate address of the other, in bursts (every
 * 50 ms for the first second, then every 200 ms) until a probe is answered or the deadline
 * passes. Then the joiner tells the creator which path it takes (GO / READY) and both sockets
 * are closed, so the same port can be handed to QUIC (`net/quic.ts`); the NAT mappings the probes
 * opened stay.
 *
 * For an easy NAT facing a hard one (endpoint-dependent mapping, "symmetric"), birthday probing
 * as Tailscale describes it: the hard side opens extra sockets toward the easy side's address
 * (each gets its own random public port) while the easy side sprays random ports of the hard
 * side's public IP; both are bounded in sockets, packets and time.
 *
 * @module
 */

import {
  decodeUdpProbe,
  encodeUdpProbe,
  type UdpProbe,
  type UdpProbeRole,
} from "../protocol/udp_probe.ts";
import { formatSocketAddr, type SocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";
import { NoCandidatesError, NoDirectPathError } from "./errors.ts";

/** Birthday probing for easy↔hard NAT pairs. */
export interface BirthdayOptions {
  /** This side is behind the hard NAT: open this many extra sockets (at most 256). */
  extraSockets?: number;
  /** This side is behind the easy NAT: spray random ports of this (the hard side's public) IP. */
  sprayIp?: string;
  /** Spray probes per burst (a burst every 20 ms). @default {32} */
  sprayPerBurst?: number;
  /** Spray at most this many probes in all. @default {6000} */
  maxSpray?: number;
  /** Start spraying only after this long without a working path. @default {1000} */
  sprayDelayMs?: number;
}

/** Options for {@linkcode punchUdp}. */
export interface UdpPunchOptions {
  /** Local addresses to bind, one socket each (the ports used toward the server). */
  locals: readonly SocketAddr[];
  /** The peer's candidate addresses (any family; each socket probes its own family). */
  remotes: readonly SocketAddr[];
  /** The probe key (`udpProbeKey`). */
  key: Uint8Array;
  /** This side's role: the creator becomes the QUIC server, the joiner the QUIC client. */
  role: UdpProbeRole;
  /** Give up after this long. @default {10000} */
  timeoutMs?: number;
  /**
   * Birthday probing (optional). A promise lets the caller decide while probing goes on (e.g.
   * once a STUN check says whether this side's NAT is hard); `null` means no birthday probing.
   */
  birthday?: BirthdayOptions | Promise<BirthdayOptions | null>;
  /** Cancels the punch. */
  signal?: AbortSignal;
}

/** A working UDP path; its sockets are closed, ready for QUIC on `local`'s port. */
export interface UdpPath {
  /** The local address the path leaves from. */
  local: SocketAddr;
  /** The peer address that answered. */
  remote: SocketAddr;
  /** Probes sent in all (including spray). */
  probesSent: number;
}

/** How long the joiner waits for READY after GO before it goes ahead anyway. */
const GO_WAIT_MS = 300;
/** Bursts: every 50 ms during the first second, then every 200 ms. */
const FAST_MS = 50;
const FAST_PHASE_MS = 1000;
const SLOW_MS = 200;
/** Spray bursts this often. */
const SPRAY_MS = 20;
/** The most extra sockets a hard side opens. */
const MAX_EXTRA_SOCKETS = 256;

function nonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(8));
}

function randomPort(): number {
  return 1024 + (crypto.getRandomValues(new Uint16Array(1))[0]! % (65536 - 1024));
}

/**
 * Punch UDP paths to the peer and return the first that works.
 *
 * @throws {NoCandidatesError} when no local socket shares a family with a remote candidate.
 * @throws {NoDirectPathError} when nothing answers in time.
 *
 * @example
 * ```ts ignore
 * const path = await punchUdp({ locals, remotes, key, role: "joiner" });
 * ```
 */
export async function punchUdp(options: UdpPunchOptions): Promise<UdpPath> {
  const { key, role, timeoutMs = 10_000 } = options;
  const families = new Set(options.remotes.map((r) => r.family));
  const locals = options.locals.filter((l) => families.has(l.family));
  if (locals.length === 0) throw new NoCandidatesError();
  options.signal?.throwIfAborted();
  let birthday: BirthdayOptions | null = null;

  const sockets: { socket: Deno.DatagramConn; local: SocketAddr; extra: boolean }[] = [];
  const closeAll = (): void => {
    for (const { socket } of sockets) {
      try {
        socket.close();
      } catch { /* closed */ }
    }
  };
  try {
    for (const local of locals) {
      const socket = Deno.listenDatagram({
        transport: "udp",
        hostname: local.ip,
        port: local.port,
      });
      sockets.push({ socket, local, extra: false });
    }
  } catch (error) {
    closeAll();
    throw error;
  }

  let probesSent = 0;
  const send = (socket: Deno.DatagramConn, to: SocketAddr, probe: Omit<UdpProbe, "role">): void => {
    probesSent++;
    socket.send(encodeUdpProbe(key, { ...probe, role }), {
      transport: "udp",
      hostname: to.ip,
      port: to.port,
    })
      .catch(() => {});
  };

  return await new Promise<UdpPath>((resolve, reject) => {
    let done = false;
    let going: { socket: Deno.DatagramConn; local: SocketAddr; remote: SocketAddr } | null = null;
    let goTimer: ReturnType<typeof setTimeout> | undefined;
    let goRepeat: ReturnType<typeof setInterval> | undefined;
    let burstTimer: ReturnType<typeof setTimeout> | undefined;
    let sprayTimer: ReturnType<typeof setTimeout> | undefined;
    let sprayed = 0;
    const started = Date.now();
    const deadline = setTimeout(
      () => fail(new NoDirectPathError("UDP", timeoutMs, probesSent, 0)),
      timeoutMs,
    );
    const onAbort = (): void => fail(options.signal!.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });

    function cleanup(): void {
      done = true;
      clearTimeout(deadline);
      clearTimeout(goTimer);
      clearInterval(goRepeat);
      clearTimeout(burstTimer);
      clearTimeout(sprayTimer);
      options.signal?.removeEventListener("abort", onAbort);
      closeAll();
    }
    function fail(error: unknown): void {
      if (done) return;
      cleanup();
      reject(error);
    }
    function succeed(local: SocketAddr, remote: SocketAddr): void {
      if (done) return;
      cleanup();
      resolve({ local, remote, probesSent });
    }

    /** The hard side of a birthday: more sockets, each with its own public port. */
    function addExtraSockets(count: number): void {
      const v4Local = locals.find((l) => l.family === "v4");
      for (let i = 0; i < Math.min(MAX_EXTRA_SOCKETS, count) && v4Local && !done; i++) {
        let socket: Deno.DatagramConn;
        try {
          socket = Deno.listenDatagram({ transport: "udp", hostname: v4Local.ip, port: 0 });
        } catch {
          return; // Out of ports or descriptors: probe with what there is.
        }
        const addr = socket.addr as Deno.NetAddr;
        const entry = { socket, local: toSocketAddr(addr.hostname, addr.port)!, extra: true };
        sockets.push(entry);
        receive(entry);
      }
    }
    Promise.resolve(options.birthday ?? null).then((plan) => {
      if (done || plan === null) return;
      birthday = plan;
      if (plan.extraSockets) addExtraSockets(plan.extraSockets);
      if (plan.sprayIp) {
        sprayTimer = setTimeout(
          spray,
          Math.max(0, (plan.sprayDelayMs ?? 1000) - (Date.now() - started)),
        );
      }
    }, () => {});

    function burst(): void {
      if (done) return;
      for (const { socket, local } of sockets) {
        for (const remote of options.remotes) {
          if (remote.family === local.family) {
            send(socket, remote, { type: "probe", nonce: nonce() });
          }
        }
      }
      burstTimer = setTimeout(burst, Date.now() - started < FAST_PHASE_MS ? FAST_MS : SLOW_MS);
    }

    /** The easy side of a birthday: probe random ports of the hard side's public IP. */
    function spray(): void {
      sprayTimer = undefined;
      if (done || !birthday?.sprayIp) return;
      const max = birthday.maxSpray ?? 6000;
      const own = sockets.find((s) => !s.extra && s.local.family === "v4");
      if (!own || sprayed >= max) return;
      const count = Math.min(birthday.sprayPerBurst ?? 32, max - sprayed);
      for (let i = 0; i < count; i++) {
        send(own.socket, { family: "v4", ip: birthday.sprayIp, port: randomPort() }, {
          type: "probe",
          nonce: nonce(),
        });
      }
      sprayed += count;
      sprayTimer = setTimeout(spray, SPRAY_MS);
    }

    async function receive(entry: { socket: Deno.DatagramConn; local: SocketAddr }): Promise<void> {
      for (;;) {
        let data: Uint8Array;
        let from: Deno.NetAddr;
        try {
          const [bytes, addr] = await entry.socket.receive();
          data = bytes;
          from = addr as Deno.NetAddr;
        } catch {
          return; // closed
        }
        if (done) return;
        const probe = decodeUdpProbe(key, data);
        if (probe === null || probe.role === role) continue;
        const remote = toSocketAddr(from.hostname, from.port);
        if (remote === null) continue;
        switch (probe.type) {
          case "probe":
            send(entry.socket, remote, { type: "ack", nonce: probe.nonce });
            break;
          case "ack":
            if (role === "joiner" && going === null) startGo(entry, remote);
            break;
          case "go":
            if (role === "creator") {
              send(entry.socket, remote, { type: "ready", nonce: probe.nonce });
              send(entry.socket, remote, { type: "ready", nonce: probe.nonce });
              succeed(entry.local, remote);
            }
            break;
          case "ready":
            if (
              role === "joiner" && going !== null && going.socket === entry.socket &&
              formatSocketAddr(going.remote) === formatSocketAddr(remote)
            ) {
              succeed(going.local, going.remote);
            }
            break;
        }
      }
    }

    function startGo(
      entry: { socket: Deno.DatagramConn; local: SocketAddr },
      remote: SocketAddr,
    ): void {
      going = { socket: entry.socket, local: entry.local, remote };
      const go = (): void => send(entry.socket, remote, { type: "go", nonce: nonce() });
      go();
      goRepeat = setInterval(go, FAST_MS);
      goTimer = setTimeout(() => succeed(entry.local, remote), GO_WAIT_MS);
    }

    for (const entry of sockets) receive(entry);
    burst();
  });
}
