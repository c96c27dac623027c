module immutable-infra/testapp

go 1.24.0
