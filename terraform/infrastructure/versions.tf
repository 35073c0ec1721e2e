terraform {
  required_version = ">= 1.5.0"

  required_providers {
    ionoscloud = {
      source  = "ionos-cloud/ionoscloud"
      version = "~> 6.7"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State lives in IONOS Object Storage; the bucket, key and credentials come
  # from the backend config stagebot passes (stagebot.yaml backend_config and
  # the allowlisted environment), never from this file.
  backend "s3" {}
}
