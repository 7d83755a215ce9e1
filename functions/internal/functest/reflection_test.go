package functest

import (
	"slices"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
)

// checkReflection asks a function's server reflection, as grpcurl does, over native gRPC: v1 lists
// RayExecutorService and health, and describes the service with its five methods from the
// contract's file; v1alpha (what older grpcurl and Postman ask) lists the same services.
func checkReflection(t *testing.T, function string, conn *grpc.ClientConn) {
	t.Helper()
	want := []string{executorv1connect.RayExecutorServiceName, healthpb.Health_ServiceDesc.ServiceName}

	stream, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Errorf("%s: reflection v1: %v", function, err)
		return
	}
	ask := func(req *reflectionv1.ServerReflectionRequest) *reflectionv1.ServerReflectionResponse {
		if err := stream.Send(req); err != nil {
			t.Errorf("%s: reflection v1 send: %v", function, err)
			return nil
		}
		res, err := stream.Recv()
		if err != nil {
			t.Errorf("%s: reflection v1 receive: %v", function, err)
		}
		return res
	}
	list := ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}})
	var names []string
	for _, s := range list.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("%s: reflection v1 lists %v, without %s", function, names, w)
		}
	}

	file := ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: executorv1connect.RayExecutorServiceName}})
	found := false
	for _, raw := range file.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Errorf("%s: reflection v1 answered a file that does not parse: %v", function, err)
			continue
		}
		if fd.GetName() != "fleet/ray_executor/v1/ray_executor.proto" {
			continue
		}
		found = true
		var methods []string
		for _, s := range fd.GetService() {
			for _, m := range s.GetMethod() {
				methods = append(methods, s.GetName()+"/"+m.GetName())
			}
		}
		slices.Sort(methods)
		if !slices.Equal(methods, []string{"RayExecutorService/ExecuteBacklogReviewDeliberation", "RayExecutorService/ExecuteDeliberation",
			"RayExecutorService/GetActiveJobs", "RayExecutorService/GetDeliberationStatus", "RayExecutorService/GetStatus"}) {
			t.Errorf("%s: reflection v1 describes methods %v", function, methods)
		}
	}
	if !found {
		t.Errorf("%s: reflection v1 has no fleet/ray_executor/v1/ray_executor.proto for the service: %v", function, file)
	}
	if err := stream.CloseSend(); err != nil {
		t.Error(err)
	}

	alpha, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Errorf("%s: reflection v1alpha: %v", function, err)
		return
	}
	defer func() { _ = alpha.CloseSend() }()
	if err := alpha.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Errorf("%s: reflection v1alpha send: %v", function, err)
		return
	}
	res, err := alpha.Recv()
	if err != nil {
		t.Errorf("%s: reflection v1alpha receive: %v", function, err)
		return
	}
	names = names[:0]
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("%s: reflection v1alpha lists %v, without %s", function, names, w)
		}
	}
}
