// Command demo-webhook signs a JSON body as a source's sender would and posts
// it to the receiver: what `make local` uses to show the pipeline working.
//
//	go run ./scripts/demo-webhook -url http://127.0.0.1:8080/webhooks/demo \
//	    -sources examples/local-sources.yaml -source demo -body '{"id":"evt_1"}'
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/receiver"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080/webhooks/demo", "receiver URL")
	file := flag.String("sources", "examples/local-sources.yaml", "sources document")
	name := flag.String("source", "demo", "source to sign as")
	host := flag.String("host", "", "Host header (default: the source's first host)")
	body := flag.String("body", "", "JSON body (default: a demo event)")
	id := flag.String("id", "", "delivery id (default: a new UUID)")
	flag.Parse()
	if err := send(*target, *file, *name, *host, *body, *id); err != nil {
		fmt.Fprintln(os.Stderr, "demo-webhook:", err)
		os.Exit(1)
	}
}

func send(target, file, name, host, body, id string) error {
	set, err := sources.LoadFile(file)
	if err != nil {
		return err
	}
	src, ok := set.Lookup(name)
	if !ok {
		return fmt.Errorf("no source %q in %s", name, file)
	}
	if id == "" {
		id = "msg_" + uuid.NewString()
	}
	if body == "" {
		body = fmt.Sprintf(`{"id":%q,"type":"order.updated","data":{"order_id":"ord_1001","status":"paid","at":%q}}`, id, time.Now().UTC().Format(time.RFC3339))
	}
	hdr, err := webhooksig.Sign(src.Scheme, src.Secrets[0], id, time.Now(), []byte(body))
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header = hdr
	req.Header.Set("Content-Type", "application/json")
	if set.OriginSecret != "" {
		req.Header.Set(receiver.OriginHeader, set.OriginSecret)
	}
	if host == "" {
		host = src.Hosts[0]
		if u, err := url.Parse(target); err == nil && u.Port() != "" {
			host += ":" + u.Port()
		}
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Printf("POST %s -> %s %s", target, resp.Status, out)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("not accepted")
	}
	return nil
}
