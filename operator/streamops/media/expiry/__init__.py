"""The origin expiry worker (`streamops worker expire`): deletes keepOrigin's originals on a claim."""
