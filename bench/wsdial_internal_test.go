package bench

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/protocol"
)

// fakeNode accepts connections and answers each with what answer returns
// for its (unmasked) subscribe command, written a byte at a time when
// trickle is set, then holds the connection until the test ends.
func fakeNode(t *testing.T, trickle bool, answer func(i int, accept string, sub protocol.Command) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				key, cmds, err := readUpgrade(c)
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				if len(cmds) != 2 || cmds[0].Type != "connect" || cmds[0].ID != 1 || cmds[1].Type != "subscribe" || cmds[1].ID != 2 {
					t.Errorf("client %d sent %+v, want connect 1 and subscribe 2", i, cmds)
					return
				}
				sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				out := answer(i, base64.StdEncoding.EncodeToString(sum[:]), cmds[1])
				if !trickle {
					_, _ = c.Write(out)
					return
				}
				for j := range out {
					if _, err := c.Write(out[j : j+1]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// readUpgrade reads a request head and the two frames sent with it, in
// whatever pieces they arrive.
func readUpgrade(c net.Conn) (key string, cmds []protocol.Command, err error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b []byte
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			return "", nil, err
		}
		head, rest, ok := bytes.Cut(b, []byte("\r\n\r\n"))
		if !ok {
			continue
		}
		for _, line := range strings.Split(string(head), "\r\n") {
			if k, ok := strings.CutPrefix(line, "Sec-WebSocket-Key: "); ok {
				key = k
			}
		}
		cmds = cmds[:0]
		for len(rest) >= 6 && rest[1]&0x80 != 0 && len(rest) >= 6+int(rest[1]&0x7f) {
			size := int(rest[1] & 0x7f)
			p := append([]byte(nil), rest[6:6+size]...)
			for i := range p {
				p[i] ^= rest[2+i%4]
			}
			cmd, err := protocol.DecodeCommand(p)
			if err != nil {
				return "", nil, err
			}
			cmds = append(cmds, cmd)
			rest = rest[6+size:]
		}
		if len(cmds) == 2 {
			return key, cmds, nil
		}
	}
}

func serverText(dst []byte, s string) []byte {
	dst = append(dst, 0x81)
	if len(s) < 126 {
		dst = append(dst, byte(len(s)))
	} else {
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	}
	return append(dst, s...)
}

func switching(accept string) []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n")
}

// The connect scenario's client reads the 101 and the replies in whatever
// pieces they arrive, skips pushes and pings before the subscribe reply,
// and takes nothing but a 101 with the right accept, then a subscribe
// reply without an error, as a subscribed client.
func TestConnectDialerChecksEveryReply(t *testing.T) {
	const ok = `{"type":"subscribe","id":2,"channel":"bench.x","epoch":"e","offset":0,"recovered":true}`
	connected := serverText(nil, `{"type":"connect","id":1,"client":"c1","ping_interval":25}`)
	cases := []struct {
		name    string
		answer  func(accept string) []byte
		wantErr string // "" for a subscribed client
	}{
		{"subscribed", func(a string) []byte {
			b := append(switching(a), connected...)
			b = append(b, 0x89, 0) // a ping frame
			b = serverText(b, `{"type":"ping"}`)
			for range 5 { // more than the client's buffer holds
				b = serverText(b, `{"type":"join","channel":"bench.x","client":"c0","user":"`+strings.Repeat("u", 150)+`"}`)
			}
			return serverText(b, ok)
		}, ""},
		{"refused subscribe", func(a string) []byte {
			return serverText(append(switching(a), connected...), `{"type":"subscribe","id":2,"error":{"code":103,"message":"permission denied"}}`)
		}, "permission denied"},
		{"refused connect", func(a string) []byte {
			return serverText(switching(a), `{"type":"connect","id":1,"error":{"code":101,"message":"unauthorized"}}`)
		}, "unauthorized"},
		{"closed", func(a string) []byte {
			b := serverText(append(switching(a), connected...), `{"type":"disconnect","code":3001,"reason":"shutdown","reconnect":true}`)
			return append(b, 0x88, 2, 0x0b, 0xb9)
		}, "closed before the reply to 2"},
		{"bad accept", func(string) []byte {
			return append(switching("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), serverText(connected, ok)...)
		}, "Sec-WebSocket-Accept"},
		{"not upgraded", func(string) []byte {
			return []byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		}, "403 Forbidden"},
		{"ended early", func(a string) []byte { return append(switching(a), connected...) }, "EOF"},
	}
	for _, trickle := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/trickle=%v", tc.name, trickle), func(t *testing.T) {
				var url string
				if tc.name == "ended early" {
					url = fakeNodeThatHangsUp(t, tc.answer)
				} else {
					url = fakeNode(t, trickle, func(_ int, accept string, _ protocol.Command) []byte { return tc.answer(accept) })
				}
				d := newConnectDialer(url, nil, &sourceDialer{}, []string{"bench.x"}, 10*time.Second, false)
				c, err := d.dial(context.Background(), "bench.x", make([]byte, 256))
				if c != nil {
					c.Close()
				}
				switch {
				case tc.wantErr == "" && err != nil:
					t.Fatalf("want subscribed, got %v", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Fatalf("got %v, want an error saying %q", err, tc.wantErr)
				}
			})
		}
	}
}

// fakeNodeThatHangsUp answers one connection and closes it.
func fakeNodeThatHangsUp(t *testing.T, answer func(accept string) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		key, _, err := readUpgrade(c)
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		_, _ = c.Write(answer(base64.StdEncoding.EncodeToString(sum[:])))
	}()
	return "http://" + ln.Addr().String()
}

// The scenario counts a client only once its subscribe reply came: a node
// that refuses every third subscription shows as that many failures, with
// the node's reason.
func TestConnectCountsRefusals(t *testing.T) {
	url := fakeNode(t, false, func(i int, accept string, sub protocol.Command) []byte {
		b := append(switching(accept), serverText(nil, `{"type":"connect","id":1,"client":"c","ping_interval":25}`)...)
		if i%3 == 0 {
			return serverText(b, `{"type":"subscribe","id":2,"error":{"code":103,"message":"permission denied"}}`)
		}
		return serverText(b, `{"type":"subscribe","id":2,"channel":"`+sub.Channel+`","epoch":"e","offset":0,"recovered":true}`)
	})
	res, err := Connect(context.Background(), ConnectConfig{Node: &Node{URL: url}, Conns: 30, Concurrency: 1, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 20 || res.Failed != 10 || res.Latency.Count != 20 || !strings.Contains(res.FirstError, "permission denied") {
		t.Fatalf("connected %d, failed %d, latencies %d, first error %q; want 20, 10, 20 and the refusal",
			res.Connected, res.Failed, res.Latency.Count, res.FirstError)
	}
}

// Stepwise, a client sends nothing before the answer to what it sent
// last: the head alone, then connect once the 101 came, then subscribe
// once connect was answered.
func TestConnectDialerStepwiseWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		done <- func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 1024)
			n, err := c.Read(buf)
			if err != nil {
				return err
			}
			head, rest, ok := bytes.Cut(buf[:n], []byte("\r\n\r\n"))
			if !ok || len(rest) > 0 {
				return fmt.Errorf("first write %q: want the request head alone", buf[:n])
			}
			var key string
			for _, line := range strings.Split(string(head), "\r\n") {
				if k, ok := strings.CutPrefix(line, "Sec-WebSocket-Key: "); ok {
					key = k
				}
			}
			sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			answers := map[string]string{
				"connect":   `{"type":"connect","id":1,"client":"c","ping_interval":25}`,
				"subscribe": `{"type":"subscribe","id":2,"channel":"bench.x","epoch":"e","offset":0,"recovered":true}`,
			}
			out := switching(base64.StdEncoding.EncodeToString(sum[:]))
			for _, want := range []string{"connect", "subscribe"} {
				if _, err := c.Write(out); err != nil {
					return err
				}
				n, err := c.Read(buf)
				if err != nil {
					return err
				}
				if n < 6 || n != 6+int(buf[1]&0x7f) {
					return fmt.Errorf("write of %d bytes: want the %s frame alone", n, want)
				}
				p := buf[6:n]
				for i := range p {
					p[i] ^= buf[2+i%4]
				}
				cmd, err := protocol.DecodeCommand(p)
				if err != nil || cmd.Type != want {
					return fmt.Errorf("got %q (%v), want %s", p, err, want)
				}
				out = serverText(nil, answers[want])
			}
			_, err = c.Write(out)
			return err
		}()
	}()
	d := newConnectDialer("http://"+ln.Addr().String(), nil, &sourceDialer{}, []string{"bench.x"}, 10*time.Second, true)
	c, err := d.dial(context.Background(), "bench.x", make([]byte, 256))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
}
