# The platform's domain: set yours. Every hostname follows from it
# (auth.<domain>, chat.<domain>, <tenant>.sites.<domain>), and IONOS Cloud
# DNS serves its zone once the registrar delegates it (terraform/README.md).
domain = "platform.example.com"
