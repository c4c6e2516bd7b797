// Command push shows server-initiated pushes to many clients. Several client
// peers dial one server and subscribe by pulling /chat/join; the server then
// pushes every message of a short conversation to each joined session it
// finds with RangeSession, plus one private message to a session it looks up
// by id with GetSession. Each client counts what arrives on its push
// controller, and the program ends once every client has every message.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	tp "github.com/teleport-go/teleport"
)

// Keys of the data the example keeps in Session.Public.
const (
	// memberKey marks, on the server, a session that joined the chat.
	memberKey = "member"
	// inboxKey holds, on a client, the channel its pushes are sent to.
	inboxKey = "inbox"
)

// JoinArgs is the body of a /chat/join pull.
type JoinArgs struct {
	Name string
}

// Message is the body of a /inbox/message push.
type Message struct {
	From string
	Text string
}

// Chat is the server's pull controller: Chat.Join -> /chat/join.
type Chat struct {
	tp.PullCtx
}

// Join subscribes the calling session: it is marked as a member and renamed
// after the member, so that the server can find it with GetSession. It
// returns the name under which the session was registered.
func (c *Chat) Join(args *JoinArgs) (string, *tp.Rerror) {
	if args.Name == "" {
		return "", tp.NewRerror(400, "Bad Request", "join: empty name")
	}
	sess := c.Session()
	sess.SetId(args.Name)
	sess.Public().Store(memberKey, args.Name)
	return sess.Id(), nil
}

// Members returns the number of sessions that joined.
func (c *Chat) Members(*struct{}) (int, *tp.Rerror) {
	n := 0
	c.Peer().RangeSession(func(s tp.Session) bool {
		if _, ok := s.Public().Load(memberKey); ok {
			n++
		}
		return true
	})
	return n, nil
}

// Inbox is the clients' push controller: Inbox.Message -> /inbox/message.
type Inbox struct {
	tp.PushCtx
}

// Message hands a pushed message to the channel of the client that dialed
// the session it arrived on.
func (i *Inbox) Message(msg *Message) {
	if ch, ok := i.Session().Public().Load(inboxKey); ok {
		ch.(chan Message) <- *msg
	}
}

// client is one subscriber: its peer, its session to the server and the
// messages pushed to it.
type client struct {
	name  string
	peer  *tp.Peer
	sess  tp.Session
	inbox chan Message
}

// names of the clients; the conversation the server pushes to all of them.
var (
	names        = []string{"alice", "bob", "carol", "dave"}
	conversation = []string{"welcome to the chat", "the server pushes", "every member gets this"}
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "push:", err)
		os.Exit(1)
	}
}

// run starts the server and the clients, prints what each client receives,
// and closes every peer.
func run(out io.Writer) (err error) {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Chat))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Close()
		err = errors.Join(err, <-served)
	}()

	// Every client gets the whole conversation plus one private message.
	want := len(conversation) + 1
	var clients []*client
	defer func() {
		for _, c := range clients {
			c.peer.Close()
		}
	}()
	for _, name := range names {
		c := &client{name: name, peer: tp.NewPeer(nil), inbox: make(chan Message, want)}
		clients = append(clients, c)
		c.peer.PushRouter.Reg(new(Inbox))
		sess, rerr := c.peer.Dial(lis.Addr().String())
		if rerr != nil {
			return fmt.Errorf("%s: dial: %w", name, rerr.ToError())
		}
		c.sess = sess
		// Before joining, so no push can arrive before the inbox is known.
		sess.Public().Store(inboxKey, c.inbox)
		var id string
		if rerr := sess.Pull("/chat/join", JoinArgs{Name: name}, &id).Rerror(); rerr != nil {
			return fmt.Errorf("%s: join: %w", name, rerr.ToError())
		}
		fmt.Fprintf(out, "%s joined as session %q\n", name, id)
	}

	// A session that never joins: it must get no message.
	lurker := tp.NewPeer(nil)
	defer lurker.Close()
	lurker.PushRouter.Reg(new(Inbox))
	lurkSess, rerr := lurker.Dial(lis.Addr().String())
	if rerr != nil {
		return fmt.Errorf("lurker: dial: %w", rerr.ToError())
	}
	lurkInbox := make(chan Message, want)
	lurkSess.Public().Store(inboxKey, lurkInbox)

	// The reply also tells that the server has the lurker's session: it
	// answered on it.
	var members int
	if rerr := lurkSess.Pull("/chat/members", struct{}{}, &members).Rerror(); rerr != nil {
		return fmt.Errorf("lurker: members: %w", rerr.ToError())
	}
	fmt.Fprintf(out, "server has %d sessions, %d of them members\n", srv.CountSession(), members)

	for _, text := range conversation {
		n := 0
		var perr error
		srv.RangeSession(func(s tp.Session) bool {
			if _, ok := s.Public().Load(memberKey); !ok {
				return true
			}
			if rerr := s.Push("/inbox/message", Message{From: "server", Text: text}); rerr != nil {
				perr = fmt.Errorf("push to %s: %w", s.Id(), rerr.ToError())
				return false
			}
			n++
			return true
		})
		if perr != nil {
			return perr
		}
		fmt.Fprintf(out, "server pushed %q to %d sessions\n", text, n)
	}
	for _, c := range clients {
		s, ok := srv.GetSession(c.name)
		if !ok {
			return fmt.Errorf("server: no session %q", c.name)
		}
		if rerr := s.Push("/inbox/message", Message{From: "server", Text: "just for " + c.name}); rerr != nil {
			return fmt.Errorf("push to %s: %w", c.name, rerr.ToError())
		}
	}
	fmt.Fprintf(out, "server pushed a private message to each of %d sessions\n", len(clients))

	// Handlers run concurrently, so the messages of one client may arrive
	// in any order: the summary sorts them.
	timeout := time.After(5 * time.Second)
	for _, c := range clients {
		var got []string
		for len(got) < want {
			select {
			case m := <-c.inbox:
				got = append(got, m.From+": "+m.Text)
			case <-timeout:
				return fmt.Errorf("%s got %d of %d messages: %q", c.name, len(got), want, got)
			}
		}
		slices.Sort(got)
		fmt.Fprintf(out, "%s got %d of %d messages: %s\n", c.name, len(got), want, strings.Join(got, " | "))
	}
	select {
	case m := <-lurkInbox:
		return fmt.Errorf("a session that did not join got %+v", m)
	default:
		fmt.Fprintln(out, "the session that did not join got 0 messages")
	}
	fmt.Fprintf(out, "all %d clients received all %d messages\n", len(clients), want)
	return nil
}
