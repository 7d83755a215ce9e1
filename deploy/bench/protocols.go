package main

import "context"

// rpcProtocols are the protocols a use case is measured in beside its JSON route.
var rpcProtocols = []protocol{protoGRPC, protoConnect}

// rpcTwins are the scenarios that call base's use case over RayExecutorService instead of its JSON
// route, one per protocol, each on a process of its own of the same binary and keyspace (started
// by launch), at the same rate, counts and workers. They follow base's scenario in the turns of
// every run, so the protocols share the machine's minutes as fairly as the turns allow; base
// lists them for the protocol table. No twins when the bench measures no RPC of the use case.
func rpcTwins(opts options, base *target, prefix string, launch func(t *target, prefix string) error) ([]*scenario, error) {
	do := rpcOf(base.fn)
	if do == nil {
		return nil, nil
	}
	var out []*scenario
	for _, p := range rpcProtocols {
		t := &target{label: base.label + " over " + p.String(), fn: base.fn, protocol: p}
		if err := launch(t, prefix); err != nil {
			return out, err
		}
		client, err := dialRPC(p, t.proc.url)
		if err != nil {
			return out, err
		}
		t.rpc = client
		base.twins = append(base.twins, t)
		rpc := func(ctx context.Context) error { return do(client, ctx) }
		out = append(out, &scenario{targets: []*target{t}, rate: opts.rate, count: opts.requests, saturation: opts.saturation,
			next: func(int) call { return call{rpc: rpc} }})
	}
	return out, nil
}

// closeRPC closes the RPC clients of the scenarios.
func closeRPC(scenarios []*scenario) {
	for _, sc := range scenarios {
		for _, t := range sc.targets {
			if t.rpc != nil {
				t.rpc.close()
			}
		}
	}
}
