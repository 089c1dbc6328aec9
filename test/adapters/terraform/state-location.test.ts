import { describe, expect, it } from 'vitest';
import { backendInHcl } from '../../../src/adapters/terraform/state-location.js';

// Reading which backend a root module declares, before `init` (Terraform has no command for it).

describe('terraform: the backend a module declares', () => {
  it('finds a backend block, quoted or not, and a cloud block', () => {
    expect(backendInHcl('terraform {\n  backend "s3" {\n    bucket = "b"\n  }\n}\n')).toBe('s3');
    expect(backendInHcl('terraform {\n  required_version = ">= 1.5"\n  backend gcs {}\n}\n')).toBe('gcs');
    expect(backendInHcl('terraform { backend "local" { path = "x.tfstate" } }')).toBe('local');
    expect(backendInHcl('terraform {\n  cloud {\n    organization = "acme"\n  }\n}\n')).toBe('cloud');
  });

  it('ignores commented-out backends and attributes that merely contain the word', () => {
    expect(backendInHcl('terraform {\n  # backend "s3" {}\n  // backend "gcs" {}\n  /* backend "azurerm" {} */\n}\n')).toBeUndefined();
    expect(backendInHcl('resource "terraform_data" "x" {\n  input = { backend = "s3", url = "https://example.com" }\n}\n')).toBeUndefined();
  });
});
