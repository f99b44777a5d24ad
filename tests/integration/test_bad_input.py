#!/usr/bin/env python3
"""Hostile input on new connections while a stream is published and played:
each bad connection is closed by the server (with a log line naming the
reason), the server stays alive and the player keeps decoding."""
import random
import socket
import struct
import time

import harness
from rtmpclient import ConnectionClosed, encode_message, VIDEO

CLOSE_WITHIN = 5.0


class BadInput(harness.ServerTestCase):
    SETS = {'handshake_timeout': '2s'}

    def setUp(self):
        super().setUp()
        self.publish('bad')
        self.player = harness.DecodeProc(self.server.url('bad'), 1000000, 150)
        self.addCleanup(self.player.stop)
        self._wait_frames(25, 15)

    def _wait_frames(self, more, timeout):
        start = self.player.frames_so_far()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.player.proc.poll() is not None:
                self.fail('player exited: %r' % self.player.result())
            if self.player.frames_so_far() >= start + more:
                return
            time.sleep(0.1)
        self.fail('player stalled: %d frames, wanted %d more within %.0f s'
                  % (self.player.frames_so_far(), more, timeout))

    def _sock(self):
        s = socket.create_connection(('127.0.0.1', self.server.port), timeout=5)
        self.addCleanup(s.close)
        return s

    def _expect_closed(self, s, what):
        t0 = time.monotonic()
        s.settimeout(0.2)
        while time.monotonic() - t0 < CLOSE_WITHIN:
            try:
                if s.recv(65536) == b'':
                    return time.monotonic() - t0
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - t0
        self.fail('%s: server did not close the connection within %.0f s' % (what, CLOSE_WITHIN))

    def _send(self, s, data):
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server may already have closed: fine

    def _after(self, port, what, reason_re):
        self.assert_alive()
        self._wait_frames(25, 10)
        if self.server.is_origin:
            m = self.server.wait_log(r'peer=127\.0\.0\.1:%d\b.*reason=' % port, 3)
            self.assertIsNotNone(m, '%s: no log line with peer port %d and a reason' % (what, port))
            line = m.string.strip()
            print('%s -> %s' % (what, line))
            self.assertRegex(line.lower(), reason_re, '%s: log reason does not say why' % what)

    def _valid_session(self):
        c = self.raw(timeout=5)
        c.connect()
        return c

    def test_a_random_garbage(self):
        rnd = random.Random(1234)
        data = bytearray(rnd.randbytes(64 * 1024))
        data[0] = 0x5a                      # not an RTMP version byte
        s = self._sock()
        port = s.getsockname()[1]
        self._send(s, bytes(data))
        self._expect_closed(s, 'garbage')
        self._after(port, 'garbage', r'version|handshake|c0|invalid|bad')

    def test_a2_garbage_after_handshake(self):
        c = self.raw(timeout=5)
        c.handshake()
        rnd = random.Random(99)
        data = bytearray(rnd.randbytes(64 * 1024))
        data[0] = 0x02    # fmt 0, csid 2 ...
        data[1:12] = b'\x00\x00\x00' + b'\xff\xff\xff' + b'\x14' + b'\x00' * 4   # 16 MiB command
        self._send(c.sock, bytes(data))
        self._expect_closed(c.sock, 'garbage after handshake')
        self._after(c.local_port, 'garbage after handshake', r'size|large|length|message|chunk|invalid')

    def test_b_truncated_handshake_closed(self):
        s = self._sock()
        port = s.getsockname()[1]
        s.sendall(b'\x03' + bytes(499))
        time.sleep(0.2)
        s.close()
        time.sleep(0.5)
        self._after(port, 'truncated handshake, closed', r'clos|eof|handshake|reset|disconnect')

    def test_c_truncated_handshake_open(self):
        s = self._sock()
        port = s.getsockname()[1]
        s.sendall(b'\x03' + bytes(499))
        t = self._expect_closed(s, 'truncated handshake left open')
        print('handshake timeout closed the connection after %.1f s' % t)
        if self.server.is_origin:
            self.assertGreater(t, 1.5, 'closed before handshake_timeout (2 s)')
        self._after(port, 'truncated handshake, open', r'timeout|timed out')

    def test_d_huge_set_chunk_size(self):
        c = self._valid_session()
        c.send_raw(encode_message(2, 1, 0, struct.pack('!I', 0x7fffffff)))
        # follow with a small message so a lazy server has to act on the chunk size
        c.send_raw(encode_message(3, 20, 0, b'\x02\x00\x04ping' + bytes(9)))
        if not self.server.is_origin:
            time.sleep(1)
            self.assert_alive()
            self._wait_frames(25, 10)
            self.skipTest('nginx-rtmp accepts any chunk size; max_chunk_size is ours')
        self._expect_closed(c.sock, 'Set Chunk Size 0x7fffffff')
        self._after(c.local_port, 'Set Chunk Size 0x7fffffff', r'chunk')

    def test_e_oversized_message(self):
        c = self._valid_session()
        c.create_stream()
        length = 0xffffff   # 16 MiB - 1, the largest a chunk header can say; > max_message_size 8m
        hdr = bytes([0x06]) + b'\x00\x00\x00' + length.to_bytes(3, 'big') + bytes([VIDEO]) \
            + struct.pack('<I', 1)
        self._send(c.sock, hdr + bytes(128))
        # keep feeding (bounded) so a server that buffers instead of refusing is visible
        t0 = time.monotonic()
        try:
            c.sock.settimeout(1)
            while time.monotonic() - t0 < 2:
                c.sock.sendall(b'\xc6' + bytes(128))
        except (OSError, ConnectionClosed):
            pass
        self._expect_closed(c.sock, 'message length 16 MiB')
        self._after(c.local_port, 'oversized message', r'size|large|length|message')

    def _bad_version(self, v):
        s = self._sock()
        port = s.getsockname()[1]
        self._send(s, bytes([v]) + bytes(1536))
        self._expect_closed(s, 'C0 version 0x%02x' % v)
        self._after(port, 'C0 version 0x%02x' % v, r'version|handshake|c0|unsupported|rtmpe')

    def test_f_version_06(self):
        self._bad_version(0x06)

    def test_f_version_00(self):
        self._bad_version(0x00)


if __name__ == '__main__':
    harness.main()
