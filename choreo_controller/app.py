"""Composition root: builds clients, informers, reconcilers and servers from parsed options and runs them."""
