module immutable-infra/probe

go 1.24.0
