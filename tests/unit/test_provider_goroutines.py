"""bench/provider_goroutines.py reads a Go traceback into groups: what the README's provider figures come from."""

from __future__ import annotations

from bench.provider_goroutines import blocked_in_provider_handlers, group

DUMP = """\
SIGQUIT: quit
PC=0x495aa1 m=0 sigcode=0

goroutine 4183 gp=0x13a8767dad20 m=nil [chan send]:
runtime.gopark(0x13a8786e89a0?, 0x13a87b86bf68?, 0xf5?, 0xf?, 0x13a876644600?)
	runtime/proc.go:462 +0xce fp=0x13a87b86bd78 sp=0x13a87b86bd58 pc=0x48dfce
runtime.chansend(0x13a879f12d90, 0x13a87b86be30, 0x1, 0x0?)
	runtime/chan.go:283 +0x3fc fp=0x13a87b86bde8 sp=0x13a87b86bd78 pc=0x41b67c
runtime.chansend1(0x13a8767dad20?, 0x13a87b86be38?)
	runtime/chan.go:161 +0x17 fp=0x13a87b86be18 sp=0x13a87b86bde8 pc=0x41b277
github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/await/informers.Factory.Subscribe.func1({0x4fac4a0?, 0x13a878f71018?})
	github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0/pkg/await/informers/factory.go:112 +0x59 fp=0x1 sp=0x2 pc=0x3
k8s.io/client-go/tools/cache.ResourceEventHandlerFuncs.OnAdd(...)
	k8s.io/client-go@v0.33.3/tools/cache/controller.go:257
created by k8s.io/apimachinery/pkg/util/wait.(*Group).Start in goroutine 4182
	k8s.io/apimachinery@v0.33.3/pkg/util/wait/wait.go:70 +0x73

goroutine 4184 gp=0x13a8767dad21 m=nil [chan send, 2 minutes]:
runtime.gopark(0x1?)
	runtime/proc.go:462 +0xce
runtime.chansend(0x1)
	runtime/chan.go:283 +0x3fc
runtime.chansend1(0x1)
	runtime/chan.go:161 +0x17
github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/await/informers.Factory.Subscribe.func2({0x4fac4a0?}, {0x1?})
	github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0/pkg/await/informers/factory.go:118 +0x59

goroutine 1769 gp=0x13a876857a40 m=nil [select]:
runtime.gopark(0x13a8780ebf08?, 0x2?, 0x0?, 0x80?, 0x13a8780ebeec?)
	runtime/proc.go:462 +0xce fp=0x13a8780ebd80 sp=0x13a8780ebd60 pc=0x48dfce
runtime.selectgo(0x13a8780ebf08, 0x13a8780ebee8, 0x13a8798c80f0?, 0x1, 0x13a8775b59fc?, 0x1)
	runtime/select.go:351 +0xaa5 fp=0x13a8780ebeb0 sp=0x13a8780ebd80 pc=0x46a0a5
k8s.io/client-go/tools/cache.(*processorListener).pop(0x13a8797d7cc0)
	k8s.io/client-go@v0.33.3/tools/cache/shared_informer.go:1032 +0x129 fp=0x1 sp=0x2 pc=0x3

goroutine 7 gp=0x1 m=nil [chan send]:
runtime.gopark(0x1?)
	runtime/proc.go:462 +0xce
main.elsewhere(0x1)
	main.go:1 +0x1
"""


def test_group_reads_state_and_functions_with_receivers_and_without_arguments() -> None:
    groups = group(DUMP)
    assert groups[("chan send", "runtime.gopark <- runtime.chansend <- runtime.chansend1 <- "
                   "informers.Factory.Subscribe.func1")] == 1
    assert groups[("chan send", "runtime.gopark <- runtime.chansend <- runtime.chansend1 <- "
                   "informers.Factory.Subscribe.func2")] == 1  # "2 minutes" is not part of the state
    assert groups[("select", "runtime.gopark <- runtime.selectgo <- cache.(*processorListener).pop")] == 1
    assert sum(groups.values()) == 4  # the signal's header is not a goroutine


def test_only_sends_from_the_provider_handlers_count_as_blocked_handlers() -> None:
    assert blocked_in_provider_handlers(group(DUMP)) == 2
    assert blocked_in_provider_handlers(group("")) == 0
