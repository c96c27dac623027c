"""The example topology: written once, deployed to dev, test and prod.

Environments differ only in the knobs ``EnvironmentConfig`` allows; the ledger in each
stack's config says which artifacts run.
"""
