// A local S3-compatible server for the dev stack and the integration tests: gofakes3 with its
// file-system backend, listening on loopback, every request's AWS Signature Version 4 checked
// against one access key pair.
//
//	s3server -listen 127.0.0.1:59000 -data DIR -buckets a,b
//	env: ROLLOUT_S3_ACCESS_KEY, ROLLOUT_S3_SECRET_KEY (required)
//
// What is checked: the Authorization header (SigV4, header-signed requests only; presigned URLs
// are refused) is recomputed with the secret key and must match; its access key must be the
// configured one; a payload hash given as hex in x-amz-content-sha256 must match the body (the
// upload fails when it does not); Content-MD5 is checked by gofakes3 itself. Not checked: bucket
// policies and ACLs (one user may do everything).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
)

var authPattern = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$`)

func main() {
	listen := flag.String("listen", "127.0.0.1:59000", "address to listen on (loopback only)")
	data := flag.String("data", "", "data folder (buckets and metadata)")
	buckets := flag.String("buckets", "", "comma-separated buckets to create at start")
	flag.Parse()
	accessKey, secretKey := os.Getenv("ROLLOUT_S3_ACCESS_KEY"), os.Getenv("ROLLOUT_S3_SECRET_KEY")
	if accessKey == "" || secretKey == "" {
		log.Fatal("s3server: set ROLLOUT_S3_ACCESS_KEY and ROLLOUT_S3_SECRET_KEY")
	}
	if *data == "" {
		log.Fatal("s3server: -data is required")
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("s3server: -listen %q must be a loopback address such as 127.0.0.1:59000", *listen)
	}
	fs, err := s3afero.FsPath(*data, s3afero.FsPathCreateAll)
	if err != nil {
		log.Fatalf("s3server: data folder %s: %v", *data, err)
	}
	backend, err := s3afero.MultiBucket(fs)
	if err != nil {
		log.Fatalf("s3server: %v", err)
	}
	for _, b := range strings.Split(*buckets, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if err := backend.CreateBucket(b); err != nil && !gofakes3.IsAlreadyExists(err) {
			log.Fatalf("s3server: create bucket %s: %v", b, err)
		}
	}
	faker := gofakes3.New(backend, gofakes3.WithIntegrityCheck(true), gofakes3.WithLogger(gofakes3.DiscardLog()))
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("s3server: listen %s: %v", *listen, err)
	}
	log.Printf("s3server: listening on http://%s, data in %s", listener.Addr(), *data)
	handler := &signed{next: faker.Server(), accessKey: accessKey, creds: aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}}
	log.Fatal((&http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}).Serve(listener))
}

type signed struct {
	next      http.Handler
	accessKey string
	creds     aws.Credentials
}

func deny(w http.ResponseWriter, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>", code, message)
}

func (s *signed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := authPattern.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		deny(w, "AccessDenied", "a request signed with AWS Signature Version 4 in the Authorization header is required")
		return
	}
	key, region, signedHeaders, signature := m[1], m[3], strings.Split(m[4], ";"), m[5]
	if key != s.accessKey {
		deny(w, "InvalidAccessKeyId", "the access key id does not exist")
		return
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		deny(w, "AccessDenied", "x-amz-date is missing or malformed")
		return
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		deny(w, "AccessDenied", "x-amz-content-sha256 is missing")
		return
	}
	// Re-sign a copy that carries only the headers the client signed, then compare.
	probe, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	probe.Host = r.Host
	for _, h := range signedHeaders {
		switch h {
		case "host":
		case "content-length":
			probe.ContentLength = r.ContentLength
		default:
			for _, v := range r.Header.Values(h) {
				probe.Header.Add(h, v)
			}
		}
	}
	if !contains(signedHeaders, "content-length") {
		probe.ContentLength = 0
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), s.creds, probe, payload, "s3", region, when); err != nil {
		deny(w, "AccessDenied", "could not check the signature")
		return
	}
	want := authPattern.FindStringSubmatch(probe.Header.Get("Authorization"))
	if want == nil || subtle.ConstantTimeCompare([]byte(want[5]), []byte(signature)) != 1 {
		deny(w, "SignatureDoesNotMatch", "the request signature we calculated does not match the signature you provided")
		return
	}
	if regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(payload) && r.Body != nil {
		expected, _ := hex.DecodeString(payload)
		r.Body = &checkedBody{inner: r.Body, hash: sha256.New(), expected: expected}
	}
	s.next.ServeHTTP(w, r)
}

func contains(list []string, item string) bool {
	for _, v := range list {
		if v == item {
			return true
		}
	}
	return false
}

// checkedBody fails the read at the end of the body when its SHA-256 is not the signed one, so
// the backend never stores it as complete.
type checkedBody struct {
	inner    io.ReadCloser
	hash     hash.Hash
	expected []byte
}

func (c *checkedBody) Read(p []byte) (int, error) {
	n, err := c.inner.Read(p)
	c.hash.Write(p[:n])
	if errors.Is(err, io.EOF) && !bytes.Equal(c.hash.Sum(nil), c.expected) {
		return n, errors.New("x-amz-content-sha256 does not match the body")
	}
	return n, err
}

func (c *checkedBody) Close() error { return c.inner.Close() }
