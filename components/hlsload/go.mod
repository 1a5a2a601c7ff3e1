module streamops.dev/components/hlsload

go 1.25
