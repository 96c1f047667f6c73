module bookmarks/go/shutdown

go 1.19
