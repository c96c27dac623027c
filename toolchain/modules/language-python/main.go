// Command pulumi-language-python is this project's own Python language host.
//
// The upstream host (module sdk/python/cmd/pulumi-language-python/v3) is not
// served by the Go module proxy, so the toolchain builds this smaller
// replacement against the pinned sdk/v3 module instead. It speaks the same
// gRPC protocol (pulumirpc.LanguageRuntime), accepts the same command line as
// upstream hosts (flags, then the engine address as the only positional
// argument), prints the port it listens on, and runs programs through the
// `pulumi-language-python-exec` shim shipped in the sdk/v3 module.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is reported by GetPluginInfo; the toolchain build stamps the pinned
// Pulumi version in with -ldflags "-X main.version=<version>".
var version = "3.259.0"

const hostName = "pulumi-language-python"

// engineHealthInterval is how often the host asks the engine whether it is still there. When it
// is not (the CLI exited or was killed without closing this plugin), the host stops: upstream
// hosts do the same with rpcutil.Healthcheck; without it every YAML preview/up/destroy left one
// host behind. A health RPC to a local engine is cheap, so a host outlives its engine ~1 s.
const engineHealthInterval = time.Second

// stopGrace bounds the graceful stop once the engine is gone: an RPC still in flight (a program
// run waiting on the dead engine) is cancelled, and the host exits after this at the latest.
const stopGrace = 10 * time.Second

func main() {
	var flags hostFlags
	flag.StringVar(&flags.tracing, "tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	flag.StringVar(&flags.root, "root", "", "Project root directory (used when the engine sends none)")
	flag.StringVar(&flags.virtualenv, "virtualenv", "", "Default virtual environment (runtime option `virtualenv` wins)")
	flag.StringVar(&flags.typechecker, "typechecker", "", "Default type checker: mypy or pyright")
	flag.StringVar(&flags.toolchain, "toolchain", "", "Default toolchain: pip, poetry or uv")
	flag.StringVar(&flags.executor, "use-executor", "", "Run programs with this script instead of "+execName)
	// Accepted for command-line compatibility with other language hosts; a Python host has no binary to run.
	flag.StringVar(&flags.binary, "binary", "", "Ignored (compatibility with other language hosts)")
	// -v and -logtostderr are registered by glog, which the logging package imports.
	flag.Parse()

	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing(hostName, hostName, flags.tracing)
	defer cmdutil.CloseTracing()

	if args := flag.Args(); len(args) > 0 {
		flags.engineAddress = args[0]
	}

	host, err := newHost(flags)
	if err != nil {
		cmdutil.Exit(err)
	}

	// Ends on an interrupt or when the engine stops answering its health check.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stopServing := make(chan bool)
	go func() {
		<-ctx.Done()
		host.cancel() // what the host runs for the engine (a program, a plugin) is cancelled too
		close(stopServing)
		time.AfterFunc(stopGrace, func() { os.Exit(1) })
	}()
	if flags.engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, flags.engineAddress, engineHealthInterval, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stopServing,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}

	// The engine reads exactly one line from stdout: the port.
	fmt.Fprintf(os.Stdout, "%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}
