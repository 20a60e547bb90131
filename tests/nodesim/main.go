// Command nodesim serves what bizra-apex pods serve, for every pod of a KWOK cluster at once.
//
// It runs in the root network namespace (talking to the apiserver on loopback) and listens inside
// the test network namespace that owns the pod CIDR, where one socket answers for every pod IP.
// Per-pod behaviour comes from sim.bizra.dev/* annotations (see behaviour.go).
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	netns := flag.String("netns", "/run/netns/bizra-pods", "network namespace holding the pod CIDR")
	logDir := flag.String("log-dir", "", "where pod log files are written")
	control := flag.String("control", "127.0.0.1:7070", "loopback address of the control API")
	healthAddr := flag.String("health-addr", "0.0.0.0:8080", "address for /health and /ready, in the netns")
	metricsAddr := flag.String("metrics-addr", "0.0.0.0:9464", "address for /metrics, in the netns")
	rpcAddr := flag.String("rpc-addr", "0.0.0.0:9944", "address for RPC requests, in the netns")
	catalogFile := flag.String("image-catalog", "", "file of image patterns that exist; others fail to pull (default: all exist)")
	promAddr := flag.String("prometheus-addr", "", "address in the netns that forwards to --prometheus-upstream, so the apiserver's service proxy reaches Prometheus")
	fileSD := flag.String("file-sd", "", "write Prometheus file_sd scrape targets of the pods here")
	promUpstream := flag.String("prometheus-upstream", "http://127.0.0.1:9090", "the Prometheus to forward to, in the root namespace")
	flag.Parse()
	if *kubeconfig == "" || *logDir == "" {
		log.Fatal("--kubeconfig and --log-dir are required")
	}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("load kubeconfig: %v", err)
	}
	config.QPS, config.Burst = 200, 400
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		log.Fatalf("create client: %v", err)
	}
	catalog, err := loadImageCatalog(*catalogFile)
	if err != nil {
		log.Fatal(err)
	}
	reg := newRegistry(client, *logDir, catalog)

	netnsAddrs := []string{*healthAddr, *metricsAddr, *rpcAddr}
	if *promAddr != "" {
		netnsAddrs = append(netnsAddrs, *promAddr)
	}
	podListeners, err := listenInNetns(*netns, netnsAddrs)
	if err != nil {
		log.Fatal(err)
	}
	controlListener, err := net.Listen("tcp", *control)
	if err != nil {
		log.Fatalf("listen on %s: %v", *control, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	handlers := []http.Handler{reg.healthHandler(), reg.metricsHandler(), reg.rpcHandler()}
	if *promAddr != "" {
		upstream, err := url.Parse(*promUpstream)
		if err != nil {
			log.Fatalf("--prometheus-upstream: %v", err)
		}
		// Accepted in the pod netns, dialed from the root namespace where Prometheus listens.
		handlers = append(handlers, httputil.NewSingleHostReverseProxy(upstream))
	}
	servers := []*http.Server{}
	serve := func(l net.Listener, h http.Handler) {
		s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Printf("server on %s: %v", l.Addr(), err)
			}
		}()
	}
	for i, l := range podListeners {
		serve(l, handlers[i])
	}
	serve(controlListener, reg.controlHandler())
	log.Printf("nodesim serving pods from %s, control on %s", *netns, *control)

	go reg.run(ctx)
	go reg.runTraffic(ctx, client)
	if *fileSD != "" {
		go reg.writeFileSD(ctx, *fileSD)
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
	os.Exit(0)
}
