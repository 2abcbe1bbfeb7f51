module github.com/vigil-soc/vigil/schemas

go 1.26.8
