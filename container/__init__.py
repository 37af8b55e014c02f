"""The container compute option (ALB + ECS Fargate): the same handlers behind a production HTTP server."""
