"""`make deploy STACK=eu`: `pulumi up`, then the gradual rollout of every function it gave a new version.

CodeDeploy shifts a Lambda alias only when a deployment is started with an AppSpec; `pulumi up`
creates the deployment groups and publishes versions, and starts nothing. This tool starts them
(see README, "Safe deployments"). It never imports pulumi: it reads `pulumi stack output --json`.
"""
