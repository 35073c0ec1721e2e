# The tenants: one WordPress with its own managed MariaDB each. Adding a
# tenant is one entry here; removing one destroys its site and database
# (the plan comment shows that in its destroy banner).
tenants = {
  acme = {
    host = "acme.sites.example.com"
  }
}
