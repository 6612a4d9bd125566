module github.com/kitbuild/kit/sdk

go 1.26.8
