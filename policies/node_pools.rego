# Node pools scale by the autoscaler, within bounds: at least one node,
# at most max_nodes (the cost ceiling), and the current count in between.
package stagebot

min_nodes := 1

max_nodes := 10

node_pools contains rc if {
	some rc in input.resource_changes
	rc.type == "ionoscloud_k8s_node_pool"
	some action in rc.change.actions
	action in {"create", "update"}
}

deny contains msg if {
	some rc in node_pools
	count(object.get(rc.change.after, "auto_scaling", [])) == 0
	msg := sprintf("%s has no auto_scaling: a node pool scales between %d and %d nodes", [rc.address, min_nodes, max_nodes])
}

deny contains msg if {
	some rc in node_pools
	some s in rc.change.after.auto_scaling
	s.min_node_count < min_nodes
	msg := sprintf("%s scales down to %d nodes: the least is %d", [rc.address, s.min_node_count, min_nodes])
}

deny contains msg if {
	some rc in node_pools
	some s in rc.change.after.auto_scaling
	s.max_node_count > max_nodes
	msg := sprintf("%s scales up to %d nodes: the most is %d", [rc.address, s.max_node_count, max_nodes])
}

deny contains msg if {
	some rc in node_pools
	some s in rc.change.after.auto_scaling
	s.min_node_count > s.max_node_count
	msg := sprintf("%s has min_node_count %d above max_node_count %d", [rc.address, s.min_node_count, s.max_node_count])
}

deny contains msg if {
	some rc in node_pools
	some s in rc.change.after.auto_scaling
	n := rc.change.after.node_count
	is_number(n)
	not between(n, s.min_node_count, s.max_node_count)
	msg := sprintf("%s has node_count %d outside its autoscaling bounds %d..%d", [rc.address, n, s.min_node_count, s.max_node_count])
}

between(n, lo, hi) if {
	n >= lo
	n <= hi
}
