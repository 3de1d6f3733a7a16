"""Generic controller machinery: rate limiters, queue, informers, controller, manager, leader election."""
