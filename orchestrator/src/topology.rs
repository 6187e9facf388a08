//! The nodes an experiment's workload needs, named `<role>-<n>` from 1.

use workloads::NodeId;

/// One node of the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// Index, also the wire identity.
    pub id: NodeId,
    /// `replica-1`.
    pub name: String,
    /// `replica`.
    pub role: String,
}

/// All nodes of a run, in id order: replicas, then voters, then clients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    pub nodes: Vec<NodeSpec>,
}

impl Topology {
    /// Build `count` nodes of each role, in the order given.
    pub fn from_roles(roles: &[(&str, usize)]) -> Topology {
        let mut nodes = Vec::new();
        for (role, count) in roles {
            for n in 1..=*count {
                let id = NodeId(u16::try_from(nodes.len()).unwrap_or(u16::MAX));
                nodes.push(NodeSpec { id, name: format!("{role}-{n}"), role: (*role).to_string() });
            }
        }
        Topology { nodes }
    }

    /// The node called `name`.
    pub fn by_name(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node with index `id`.
    pub fn by_id(&self, id: NodeId) -> Option<&NodeSpec> {
        self.nodes.get(usize::from(id.0))
    }

    /// The nodes playing `role`, in order.
    pub fn with_role<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a NodeSpec> + 'a {
        self.nodes.iter().filter(move |n| n.role == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_numbered_from_one_in_id_order() {
        let t = Topology::from_roles(&[("replica", 3), ("voter", 1), ("client", 1)]);
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["replica-1", "replica-2", "replica-3", "voter-1", "client-1"]);
        assert_eq!(t.by_name("voter-1").map(|n| n.id), Some(NodeId(3)));
        assert_eq!(t.by_id(NodeId(4)).map(|n| n.role.as_str()), Some("client"));
        assert_eq!(t.with_role("replica").count(), 3);
        assert!(t.by_name("replica-4").is_none());
        assert!(t.by_id(NodeId(5)).is_none());
    }
}
