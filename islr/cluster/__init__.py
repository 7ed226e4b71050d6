"""Running training on a Kubernetes cluster (Kubeflow TFJob), without an orchestrator."""
