module immutable-infra/cluster/pause

go 1.24.0
